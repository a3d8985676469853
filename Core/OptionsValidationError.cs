namespace Multicast;

/// <summary>A configuration value is invalid; the message names the key to fix.</summary>
public sealed class OptionsValidationError : Exception
{
    /// <summary>Creates the exception for <paramref name="key"/>.</summary>
    public OptionsValidationError(string key, string problem)
        : base($"Invalid configuration '{key}': {problem}.")
    {
        Key = key;
    }

    /// <summary>Creates the exception.</summary>
    public OptionsValidationError() : this("?", "invalid") { }

    /// <summary>Creates the exception.</summary>
    public OptionsValidationError(string message) : base(message) { Key = "?"; }

    /// <summary>Creates the exception.</summary>
    public OptionsValidationError(string message, Exception innerException) : base(message, innerException) { Key = "?"; }

    /// <summary>The configuration key whose value must change.</summary>
    public string Key { get; }
}
