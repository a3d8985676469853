using System.Runtime.InteropServices;

namespace Multicast.Soak;

/// <summary>POSIX signals to the node processes: SIGSTOP/SIGCONT (a pause) and SIGTERM (a graceful stop).</summary>
internal static partial class Interop
{
    public const int SigTerm = 15;
    public const int SigStop = 19;
    public const int SigCont = 18;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    public static partial int Kill(int pid, int signal);
}
