using System.Runtime.InteropServices;

namespace Multicast.Tests.Host;

/// <summary>Freezing a node process as a long GC pause, a VM steal or a swap storm does: SIGSTOP, then SIGCONT.</summary>
internal sealed partial class NodeProcess
{
    private const int SigStop = 19;
    private const int SigCont = 18;

    /// <summary>The process id of the current incarnation.</summary>
    public int ProcessId => _process.Id;

    /// <summary>SIGSTOP: every thread of the node stops, sockets keep queueing; it believes nothing happened when resumed.</summary>
    public void Pause() => Signal(SigStop, "SIGSTOP");

    /// <summary>SIGCONT: the node runs again; its timers fire late and its queued datagrams and requests flow.</summary>
    public void Resume() => Signal(SigCont, "SIGCONT");

    private void Signal(int signal, string name)
    {
        if (!_process.HasExited && SysKill(_process.Id, signal) != 0)
            Assert.Fail($"kill({name}) of {NodeId} failed: errno {Marshal.GetLastPInvokeError()}");
    }
}
