using Multicast.Transports.ZeroMq;

namespace Multicast.Tests.Transports.ZeroMq;

/// <summary>Every ZeroMQ test needs Debian's libzmq5; say so once, clearly.</summary>
[SetUpFixture]
public sealed class ZeroMqSetUpFixture
{
    [OneTimeSetUp]
    public void RequireLibzmq()
    {
        try
        {
            Interop.EnsureInstalled();
        }
        catch (ZeroMqException e)
        {
            Assert.Fail($"{e.Message} (bash tools/test.sh installs it when run as root.)");
        }
    }
}
