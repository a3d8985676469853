namespace Multicast.Bench.ZeroMq.Libzmq;

/// <summary>A libzmq call failed, or libzmq is not installed (the benchmark's libzmq peers need Debian's libzmq5).</summary>
internal sealed class LibzmqException : Exception
{
    public LibzmqException(string operation, int errorNumber, string errorMessage)
        : base($"{operation} failed: {errorMessage} (zmq_errno {errorNumber}).")
    {
        ErrorNumber = errorNumber;
    }

    public LibzmqException(string message, Exception innerException) : base(message, innerException) { }

    public LibzmqException() : this("libzmq call failed.", new InvalidOperationException()) { }

    public LibzmqException(string message) : base(message) { }

    /// <summary>libzmq's errno for the failed call; 0 when libzmq is not installed.</summary>
    public int ErrorNumber { get; }

    internal static LibzmqException NotInstalled(string library, DllNotFoundException inner) => new(
        $"The libzmq benchmark peers need the native library {library} (libzmq 4.3), which is not installed: `apt-get install libzmq5`.", inner);
}
