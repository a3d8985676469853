namespace Multicast.Messaging;

/// <summary>The send window stayed full for longer than the send timeout: receivers are not keeping up.</summary>
public sealed class SendWindowFullException : Exception
{
    /// <summary>Creates the exception.</summary>
    public SendWindowFullException() : base("The send window stayed full past the send timeout; receivers are not acknowledging.") { }

    /// <summary>Creates the exception.</summary>
    public SendWindowFullException(string message) : base(message) { }

    /// <summary>Creates the exception.</summary>
    public SendWindowFullException(string message, Exception innerException) : base(message, innerException) { }
}
