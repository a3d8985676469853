using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Multicast.Stores;

/// <summary>open(2) a directory and fsync(2) it: a rename or a delete is durable only once its directory is.
/// .NET cannot open a directory as a file, so this goes to libc.</summary>
internal static partial class Interop
{
    private const int ReadOnly = 0; // O_RDONLY

    /// <summary>O_DIRECTORY: fail unless the path is a directory.</summary>
    private static int Directory => OperatingSystem.IsMacOS() ? 0x100000 : 0x10000;

    /// <summary>O_CLOEXEC.</summary>
    private static int CloseOnExec => OperatingSystem.IsMacOS() ? 0x1000000 : 0x80000;

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int FSync(SafeFileDescriptor fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int CloseDescriptor(nint fd);

    /// <summary>Flushes the directory entry changes (renames, deletes) of <paramref name="path"/> to the disk.</summary>
    /// <exception cref="IOException">open or fsync failed.</exception>
    internal static void SyncDirectory(string path)
    {
        using var fd = new SafeFileDescriptor(Open(path, ReadOnly | Directory | CloseOnExec));
        if (fd.IsInvalid)
            throw new IOException($"open({path}) failed: errno {Marshal.GetLastPInvokeError()}");
        if (FSync(fd) != 0)
            throw new IOException($"fsync({path}) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>A file descriptor closed exactly once.</summary>
    internal sealed class SafeFileDescriptor : SafeHandleZeroOrMinusOneIsInvalid
    {
        public SafeFileDescriptor() : base(ownsHandle: true) { }

        public SafeFileDescriptor(int fd) : base(ownsHandle: true) => SetHandle(fd);

        public override bool IsInvalid => handle == -1;

        protected override bool ReleaseHandle() => CloseDescriptor(handle) == 0;
    }
}
