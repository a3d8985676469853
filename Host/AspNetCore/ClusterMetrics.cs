using System.Diagnostics.Metrics;
using Multicast.Stores;
using Multicast.Transports.Udp;
using Multicast.Transports.ZeroMq;

namespace Multicast.AspNetCore;

/// <summary>
/// The node's instruments on the <c>Multicast</c> meter (read them with
/// <c>dotnet-counters monitor -p PID --counters Multicast</c>), and a summary of every instrument
/// on that meter — the messaging layer's and the transports' included — for <c>GET /cluster</c>.
/// </summary>
internal sealed class ClusterMetrics : IDisposable
{
    public const string MeterName = "Multicast";

    private readonly Meter _meter;
    private readonly MeterListener _listener = new();
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Aggregate> _aggregates = new(StringComparer.Ordinal);
    private readonly Counter<long> _lockConflicts;
    private readonly Histogram<double> _lockWaits;
    private readonly Counter<long> _commits;
    private readonly Counter<long> _commitFailures;
    private readonly Histogram<double> _commitDuration;
    private readonly string _nodeId;

    public ClusterMetrics(IMeterFactory meterFactory, ClusterNode node, TimeProvider time)
    {
        CommitWindow = new LatencyWindow(time);
        _meter = meterFactory.Create(MeterName);
        _meter.CreateObservableGauge("multicast.members", () => node.View.Members.Count, "{member}", "Members in this node's view");
        _meter.CreateObservableGauge("multicast.sessions", () => node.Manager.Count, "{session}", "Sessions this node holds");
        _meter.CreateObservableGauge("multicast.view", () => node.View.Id, null, "This node's view number");
        _lockConflicts = _meter.CreateCounter<long>("multicast.lock.conflicts", "{conflict}", "Exclusive requests refused because another node holds the lock (redirect, fail or wait timeout)");
        _lockWaits = _meter.CreateHistogram<double>("multicast.lock.wait", "ms", "Time an exclusive request spent getting its session and lock");
        _commits = _meter.CreateCounter<long>("multicast.commits", "{commit}", "Session commits at the end of exclusive requests");
        _commitFailures = _meter.CreateCounter<long>("multicast.commit.failures", "{commit}", "Commits that failed (write concern not met, lock lost, too large)");
        _commitDuration = _meter.CreateHistogram<double>("multicast.commit.duration", "ms", "Commit time, including the wait for ReplicationAcks members: the replication lag a request sees");

        if (node.Store is ArbitratedClusterStore { Counters: var c })
        {
            void Add(string name, Func<long> read, string description) =>
                _meter.CreateObservableCounter(name, read, null, description);
            Add("multicast.store.lock_waits", () => c.LockWaits, "Lock requests that waited for a release");
            Add("multicast.store.lock_conflicts", () => c.LockConflicts, "Lock requests refused because the lock was held");
            Add("multicast.store.applied", () => c.Applied, "Peer updates applied");
            Add("multicast.store.buffered", () => c.Buffered, "Deltas that arrived before their base version (replication lag seen by this node)");
            Add("multicast.store.syncs", () => c.Syncs, "Whole-session fetches made to fill a gap");
            Add("multicast.store.recoveries", () => c.Recoveries, "Sessions recovered by a new arbiter");
            Add("multicast.store.write_concern_timeouts", () => c.WriteConcernTimeouts, "Commits for which a member that stayed in the view did not acknowledge within the commit timeout");
            Add("multicast.store.write_concern_recounts", () => c.WriteConcernRecounts, "Commits whose write concern was counted again after a view change");
            Add("multicast.store.no_quorum_refusals", () => c.NoQuorumRefusals, "Requests refused because this node was in a minority partition");
            Add("multicast.store.stale_epoch_refusals", () => c.StaleEpochRefusals, "Updates refused because they came from an arbiter of an earlier primary epoch");
            Add("multicast.store.outcome_queries", () => c.OutcomeQueries, "Commits whose arbiter changed before answering, resolved with the new arbiter");
            Add("multicast.store.in_doubt", () => c.InDoubt, "Commits whose outcome could not be learned in time");
            Add("multicast.store.reconciliations", () => c.Reconciliations, "Primary epochs this node reconciled");
            Add("multicast.store.refused_stale", () => c.RefusedStale, "Commits refused for a stale fencing token");
            Add("multicast.store.malformed", () => c.Malformed, "Store messages dropped as malformed");
            Add("multicast.store.rebalanced", () => c.Rebalanced, "Ring: session copies pushed to members that became backups");
            Add("multicast.store.dropped", () => c.Dropped, "Ring: copies dropped because this node no longer must hold them");
            Add("multicast.store.loaded_from_disk", () => c.LoadedFromDisk, "Ring: sessions loaded from the disk copy at start");
            Add("multicast.store.corrupt_files", () => c.CorruptFiles, "Ring: disk files skipped as truncated or corrupt");
            Add("multicast.store.transferred_sessions", () => c.TransferredSessions, "Whole sessions received while catching up");
        }

        switch (node.Transport)
        {
            case UdpMulticastTransport udp:
                _meter.CreateObservableCounter("multicast.transport.datagrams_sent", () => udp.DatagramsSent, null, "UDP datagrams sent");
                _meter.CreateObservableCounter("multicast.transport.datagrams_received", () => udp.DatagramsReceived, null, "UDP datagrams received");
                _meter.CreateObservableCounter("multicast.transport.send_errors", () => udp.SendErrors, null, "UDP datagrams the socket refused (dropped)");
                _meter.CreateObservableCounter("multicast.transport.receive_errors", () => udp.ReceiveErrors, null, "UDP receive errors");
                break;
            case ZeroMqTransport zmq:
                _meter.CreateObservableCounter("multicast.transport.datagrams_sent", () => zmq.Counters.GroupSent + zmq.Counters.UnicastSent, null, "ZeroMQ messages handed to the PUB and PUSH sockets");
                _meter.CreateObservableCounter("multicast.transport.datagrams_received", () => zmq.Counters.Received, null, "ZeroMQ messages received");
                _meter.CreateObservableCounter("multicast.transport.send_errors", () => zmq.Counters.Dropped, null, "ZeroMQ messages not sent (queue full, high-water mark, bad address)");
                _meter.CreateObservableCounter("multicast.transport.receive_errors", () => zmq.Counters.Invalid, null, "ZeroMQ messages received malformed");
                break;
        }

        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter, _meter) || (instrument.Meter.Name == MeterName && instrument.Meter.Scope is null))
                listener.EnableMeasurementEvents(instrument);
        };
        _nodeId = node.Options.Cluster.NodeId;
        _listener.SetMeasurementEventCallback<long>((i, v, t, _) => Record(i, v, t));
        _listener.SetMeasurementEventCallback<int>((i, v, t, _) => Record(i, v, t));
        _listener.SetMeasurementEventCallback<double>((i, v, t, _) => Record(i, v, t));
        _listener.Start();
    }

    public void LockConflict(string policy) => _lockConflicts.Add(1, new KeyValuePair<string, object?>("policy", policy));

    public void LockWait(TimeSpan elapsed) => _lockWaits.Record(elapsed.TotalMilliseconds);

    /// <summary>Commit durations of the last minute, for their percentiles.</summary>
    public LatencyWindow CommitWindow { get; }

    public void Commit(TimeSpan elapsed)
    {
        _commits.Add(1);
        _commitDuration.Record(elapsed.TotalMilliseconds);
        CommitWindow.Record(elapsed);
    }

    public void CommitFailure(string reason) => _commitFailures.Add(1, new KeyValuePair<string, object?>("reason", reason));

    /// <summary>Every instrument seen so far: counters as totals, gauges as the last value, histograms as count/mean/max.</summary>
    public IReadOnlyDictionary<string, object> Snapshot()
    {
        _listener.RecordObservableInstruments();
        var result = new SortedDictionary<string, object>(StringComparer.Ordinal);
        lock (_gate)
        {
            foreach (var (name, a) in _aggregates)
            {
                result[name] = a.Kind switch
                {
                    Kind.Histogram => new Dictionary<string, double>
                    {
                        ["count"] = a.Count,
                        ["mean"] = a.Count == 0 ? 0 : Math.Round(a.Sum / a.Count, 3),
                        ["max"] = Math.Round(a.Max, 3),
                    },
                    _ => a.Sum,
                };
            }
        }
        return result;
    }

    public void Dispose()
    {
        _listener.Dispose();
        _meter.Dispose();
    }

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        // Shared "Multicast" meters tag each measurement with its node: several nodes may run in one process.
        foreach (var tag in tags)
        {
            if (tag.Key == "node.id" && !Equals(tag.Value, _nodeId))
                return;
        }
        var kind = instrument switch
        {
            Histogram<double> or Histogram<long> or Histogram<int> => Kind.Histogram,
            ObservableGauge<int> or ObservableGauge<long> or ObservableGauge<double> or Gauge<int> or Gauge<long> or Gauge<double> => Kind.Gauge,
            ObservableCounter<long> or ObservableCounter<int> or ObservableCounter<double> => Kind.Gauge, // observed as a running total
            ObservableUpDownCounter<long> or ObservableUpDownCounter<int> or ObservableUpDownCounter<double> => Kind.Gauge,
            _ => Kind.Counter,
        };
        lock (_gate)
        {
            if (!_aggregates.TryGetValue(instrument.Name, out var a))
                _aggregates[instrument.Name] = a = new Aggregate { Kind = kind };
            switch (kind)
            {
                case Kind.Gauge:
                    a.Sum = value;
                    break;
                case Kind.Histogram:
                    a.Count++;
                    a.Sum += value;
                    a.Max = Math.Max(a.Max, value);
                    break;
                default:
                    a.Sum += value;
                    break;
            }
        }
    }

    private enum Kind { Counter, Gauge, Histogram }

    private sealed class Aggregate
    {
        public Kind Kind;
        public long Count;
        public double Sum;
        public double Max;
    }
}
