// The benchmark's own binding to Debian's libzmq 4.3, for the libzmq peers it compares NetMQ and the channel with
// (PUB/SUB over tcp://, epgm://, norm://). The product uses NetMQ; nothing here ships.
using System.Runtime.InteropServices;

namespace Multicast.Bench.ZeroMq.Libzmq;

internal static partial class Interop
{
    /// <summary>The library every import binds: Debian's <c>libzmq5</c> package (libzmq 4.3).</summary>
    internal const string LibZmq = "libzmq.so.5";

    // errno values libzmq reports that the transport reacts to.
    internal const int EINTR = 4;
    internal const int EAGAIN = 11;
    private const int ZmqHausnumero = 156384712;
    internal const int ETERM = ZmqHausnumero + 53;

    [LibraryImport(LibZmq, EntryPoint = "zmq_strerror")]
    private static partial nint zmq_strerror(int errnum);

    [LibraryImport(LibZmq, EntryPoint = "zmq_version")]
    private static partial void zmq_version(out int major, out int minor, out int patch);

    [LibraryImport(LibZmq, EntryPoint = "zmq_has", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int zmq_has(string capability);

    /// <summary>libzmq's message for an errno value (its own codes and the system's).</summary>
    internal static string StrError(int errno) => Marshal.PtrToStringUTF8(zmq_strerror(errno)) ?? $"error {errno}";

    /// <summary>The loaded libzmq's version; throws <see cref="LibzmqException"/> naming the package when it is missing.</summary>
    internal static Version LibraryVersion()
    {
        try
        {
            zmq_version(out var major, out var minor, out var patch);
            return new Version(major, minor, patch);
        }
        catch (DllNotFoundException e)
        {
            throw LibzmqException.NotInstalled(LibZmq, e);
        }
    }

    /// <summary>Loads <paramref name="libraryName"/> once to check that it is installed (the transport calls it at start).</summary>
    internal static void EnsureInstalled(string libraryName = LibZmq)
    {
        try
        {
            NativeLibrary.Free(NativeLibrary.Load(libraryName));
        }
        catch (DllNotFoundException e)
        {
            throw LibzmqException.NotInstalled(libraryName, e);
        }
    }

    /// <summary>Whether libzmq was built with a transport or feature ("norm", "pgm", "ipc", "curve", "draft").</summary>
    internal static bool Has(string capability) => zmq_has(capability) == 1;

    /// <summary>The errno of the last failed import marked <c>SetLastError</c>, as a typed exception.</summary>
    internal static LibzmqException Error(string operation) => Error(operation, Marshal.GetLastPInvokeError());

    internal static LibzmqException Error(string operation, int errno) => new(operation, errno, StrError(errno));
}
