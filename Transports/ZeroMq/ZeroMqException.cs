namespace Multicast.Transports.ZeroMq;

/// <summary>A libzmq call failed, or libzmq is not installed. Carries libzmq's <c>zmq_errno</c> and the message
/// of <c>zmq_strerror</c>.</summary>
public sealed class ZeroMqException : Exception
{
    /// <summary>Creates the exception for a failed libzmq call.</summary>
    /// <param name="operation">The call that failed, e.g. <c>zmq_bind('tcp://...')</c>.</param>
    /// <param name="errorNumber">libzmq's errno for it.</param>
    /// <param name="errorMessage">libzmq's <c>zmq_strerror</c> text for <paramref name="errorNumber"/>.</param>
    public ZeroMqException(string operation, int errorNumber, string errorMessage)
        : base($"{operation} failed: {errorMessage} (zmq_errno {errorNumber}).")
    {
        ErrorNumber = errorNumber;
        ErrorMessage = errorMessage;
    }

    /// <summary>Creates the exception.</summary>
    public ZeroMqException() : this("libzmq call failed.") { }

    /// <summary>Creates the exception.</summary>
    public ZeroMqException(string message) : base(message) { ErrorMessage = message; }

    /// <summary>Creates the exception.</summary>
    public ZeroMqException(string message, Exception innerException) : base(message, innerException) { ErrorMessage = message; }

    /// <summary>libzmq's errno (<c>zmq_errno()</c>) for the failed call; 0 when libzmq is not installed.</summary>
    public int ErrorNumber { get; }

    /// <summary>libzmq's message for <see cref="ErrorNumber"/> (<c>zmq_strerror</c>).</summary>
    public string ErrorMessage { get; }

    internal static ZeroMqException NotInstalled(string library, DllNotFoundException inner) => new(
        $"The ZeroMQ transport needs the native library {library} (libzmq 4.3), which is not installed. " +
        "Install it with `apt-get install libzmq5`, or choose another transport (Cluster:Transport).", inner);
}
