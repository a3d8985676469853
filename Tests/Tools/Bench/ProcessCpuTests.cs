using System.Diagnostics;
using Multicast.Bench.Http;

namespace Multicast.Tests.Tools.Bench;

/// <summary>Server CPU time from /proc/&lt;pid&gt;/stat.</summary>
public sealed class ProcessCpuTests
{
    [Test]
    public void ParseTicks_CommandNameWithSpacesAndParentheses_SumsUserAndSystemTime()
    {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
        const string stat = "4242 (dotnet (x) y) S 1 4242 4242 0 -1 4194560 3000 0 12 0 1234 567 0 0 20 0 25 0";

        Assert.That(ProcessCpu.ParseTicks(stat), Is.EqualTo(1234 + 567));
    }

    [Test]
    public void ParseTicks_NotAStatLine_Throws()
    {
        Assert.That(() => ProcessCpu.ParseTicks("garbage"), Throws.TypeOf<FormatException>());
    }

    [Test]
    public void Seconds_ThisProcess_MatchesTheRuntimesAccount()
    {
        using var self = Process.GetCurrentProcess();

        var sut = ProcessCpu.Seconds([Environment.ProcessId]);

        self.Refresh();
        Assert.That(sut, Is.GreaterThan(0));
        Assert.That(sut, Is.EqualTo(self.TotalProcessorTime.TotalSeconds).Within(0.5), "the same counters, read a moment apart");
    }

    [Test]
    public void Seconds_ProcessThatIsGone_CountsZero()
    {
        Assert.That(ProcessCpu.Seconds([int.MaxValue]), Is.Zero);
    }
}
