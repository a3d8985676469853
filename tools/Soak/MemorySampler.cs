using System.Diagnostics.Tracing;
using System.Globalization;
using Microsoft.Diagnostics.NETCore.Client;
using Microsoft.Diagnostics.Tracing;

namespace Multicast.Soak;

/// <summary>
/// Each node's managed heap and RSS over time. The heap comes from the runtime's own <c>gc-heap-size</c> counter
/// (the <c>System.Runtime</c> event source, over the process's diagnostics socket: one EventPipe session per
/// incarnation); RSS from <c>/proc/PID/status</c>.
/// </summary>
internal sealed class MemorySampler(IReadOnlyList<SoakNode> nodes, TimeSpan interval) : IDisposable
{
    private readonly Dictionary<int, Watch> _watches = [];
    private readonly object _lock = new();

    /// <summary>One reading: time since the soak started, node, incarnation, heap and RSS in MiB (null when unreadable).</summary>
    internal sealed record Reading(TimeSpan At, int Node, int Incarnation, double? HeapMiB, double? RssMiB);

    public List<Reading> Readings { get; } = [];

    /// <summary>Takes one reading of every node (starting a counter session for a new incarnation).</summary>
    public void Sample(TimeSpan at)
    {
        foreach (var node in nodes)
        {
            var pid = node.Pid;
            double? heap = null;
            if (pid != 0 && !node.HasExited)
            {
                lock (_lock)
                {
                    if (!_watches.TryGetValue(node.Index, out var watch) || watch.Pid != pid || !watch.Attached)
                    {
                        watch?.Dispose();
                        watch = new Watch(pid, interval);
                        _watches[node.Index] = watch;
                    }
                    heap = watch.HeapMiB;
                }
            }
            Readings.Add(new Reading(at, node.Index, node.Incarnation, heap, Rss(pid)));
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            foreach (var watch in _watches.Values)
                watch.Dispose();
            _watches.Clear();
        }
    }

    private static double? Rss(int pid)
    {
        try
        {
            var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
            var kb = line?.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];
            return kb is null ? null : double.Parse(kb, CultureInfo.InvariantCulture) / 1024;
        }
        catch (IOException)
        {
            return null; // the process is gone
        }
    }

    /// <summary>An EventPipe session on one process, keeping the latest gc-heap-size.</summary>
    private sealed class Watch : IDisposable
    {
        private readonly EventPipeSession? _session;
        private readonly Thread? _reader;
        private double _heapMiB = double.NaN;

        public Watch(int pid, TimeSpan interval)
        {
            Pid = pid;
            try
            {
                var providers = new[]
                {
                    new EventPipeProvider("System.Runtime", EventLevel.Informational, 0,
                        new Dictionary<string, string> { ["EventCounterIntervalSec"] = Math.Max(1, (int)interval.TotalSeconds).ToString(CultureInfo.InvariantCulture) }),
                };
                _session = new DiagnosticsClient(pid).StartEventPipeSession(providers, requestRundown: false);
                _reader = new Thread(Read) { IsBackground = true, Name = $"Soak counters {pid}" };
                _reader.Start();
            }
            catch (Exception ex) when (ex is ServerNotAvailableException or UnsupportedCommandException or IOException or TimeoutException)
            {
                _session = null; // a process that just started or just died: the next incarnation gets a new watch
            }
        }

        public int Pid { get; }

        /// <summary>Whether the session started (a process still starting up refuses it; the next sample tries again).</summary>
        public bool Attached => _session is not null;

        public double? HeapMiB => double.IsNaN(Volatile.Read(ref _heapMiB)) ? null : Volatile.Read(ref _heapMiB);

        public void Dispose()
        {
            try
            {
                _session?.Stop();
            }
            catch (Exception ex) when (ex is ServerNotAvailableException or IOException or TimeoutException or EndOfStreamException)
            {
                // the process is gone: its session with it
            }
            _session?.Dispose();
        }

        private void Read()
        {
            try
            {
                using var source = new EventPipeEventSource(_session!.EventStream);
                source.Dynamic.All += e =>
                {
                    if (e.EventName != "EventCounters" || e.PayloadValue(0) is not IDictionary<string, object> outer
                        || outer.TryGetValue("Payload", out var inner) is false || inner is not IDictionary<string, object> payload)
                        return;
                    if (payload.TryGetValue("Name", out var name) && name is "gc-heap-size" && payload.TryGetValue("Mean", out var mean))
                        Volatile.Write(ref _heapMiB, Convert.ToDouble(mean, CultureInfo.InvariantCulture) * 1_000_000 / (1024 * 1024));
                };
                source.Process();
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // the process went away mid-stream
            }
        }
    }
}
