using System.Runtime.InteropServices;

namespace Multicast.Transports.Udp;

/// <summary>SO_ATTACH_FILTER (Linux): a classic BPF program that drops this node's own looped-back group datagrams
/// in the kernel, before they wake the receive thread.</summary>
internal static partial class Interop
{
    private const int SolSocket = 1;
    private const int SoAttachFilter = 26;

    // Classic BPF opcodes.
    private const ushort LoadHalfAbsolute = 0x28;  // BPF_LD | BPF_H | BPF_ABS
    private const ushort LoadWordAbsolute = 0x20;  // BPF_LD | BPF_W | BPF_ABS
    private const ushort JumpIfEqual = 0x15;       // BPF_JMP | BPF_JEQ | BPF_K
    private const ushort Return = 0x06;            // BPF_RET | BPF_K

    // SKF_NET_OFF (-0x100000): loads relative to the IP header; plain offsets are relative to the UDP header.
    private const uint NetworkHeader = 0xFFF00000;

    [StructLayout(LayoutKind.Sequential)]
    private struct SockFilter
    {
        public ushort Code;
        public byte JumpTrue;
        public byte JumpFalse;
        public uint K;
    }

    [StructLayout(LayoutKind.Sequential)]
    private unsafe struct SockFprog
    {
        public ushort Length;
        public SockFilter* Filter;
    }

    [LibraryImport("libc", EntryPoint = "setsockopt", SetLastError = true)]
    private static unsafe partial int SetSockOpt(int fd, int level, int name, void* value, uint length);

    /// <summary>Makes <paramref name="fd"/> drop UDP datagrams whose source is <paramref name="address"/>:<paramref name="port"/>.
    /// Returns 0, or the errno when the kernel refused the program (the datagrams then arrive and are ignored above).</summary>
    internal static unsafe int DropDatagramsFrom(int fd, ReadOnlySpan<byte> address, int port)
    {
        var ip = (uint)(address[0] << 24 | address[1] << 16 | address[2] << 8 | address[3]);
        // BPF loads are big-endian, so the port and address compare in their usual numeric form.
        var program = stackalloc SockFilter[]
        {
            new() { Code = LoadHalfAbsolute, K = 0 },                             // 0: A = UDP source port
            new() { Code = JumpIfEqual, JumpTrue = 0, JumpFalse = 3, K = (uint)port }, // 1: not ours -> 5
            new() { Code = LoadWordAbsolute, K = NetworkHeader + 12 },            // 2: A = IP source address
            new() { Code = JumpIfEqual, JumpTrue = 0, JumpFalse = 1, K = ip },      // 3: not ours -> 5
            new() { Code = Return, K = 0 },                                       // 4: drop
            new() { Code = Return, K = uint.MaxValue },                           // 5: keep all of it
        };
        var fprog = new SockFprog { Length = 6, Filter = program };
        return SetSockOpt(fd, SolSocket, SoAttachFilter, &fprog, (uint)sizeof(SockFprog)) == 0 ? 0 : Marshal.GetLastPInvokeError();
    }
}
