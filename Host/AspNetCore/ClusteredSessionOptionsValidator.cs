using Microsoft.Extensions.Options;

namespace Multicast.AspNetCore;

/// <summary>Runs <see cref="ClusteredSessionOptions.Validate"/> at start so a bad value stops the host with the key's name.</summary>
internal sealed class ClusteredSessionOptionsValidator : IValidateOptions<ClusteredSessionOptions>
{
    public ValidateOptionsResult Validate(string? name, ClusteredSessionOptions options)
    {
        try
        {
            options.Validate();
            return ValidateOptionsResult.Success;
        }
        catch (OptionsValidationError ex)
        {
            return ValidateOptionsResult.Fail(ex.Message);
        }
    }
}
