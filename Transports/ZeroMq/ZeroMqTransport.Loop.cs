using System.Buffers;
using Microsoft.Extensions.Logging;

namespace Multicast.Transports.ZeroMq;

// The owning thread: every libzmq socket is created, used and closed here.
public sealed partial class ZeroMqTransport
{
    // Per poll round at most this many datagrams are sent and this many received per socket, so neither starves the other.
    private const int BatchSize = 512;
    private const int ReconnectIntervalMaxMilliseconds = 5_000;

    private ZmqContextHandle? _context;
    private ZmqSocketHandle? _pub;
    private ZmqSocketHandle? _sub;
    private ZmqSocketHandle? _pull;
    private readonly Dictionary<string, UnicastPeer> _unicast = new(StringComparer.Ordinal);
    private readonly HashSet<string> _connectedPeers = new(StringComparer.OrdinalIgnoreCase);

    private void Run()
    {
        try
        {
            Open();
        }
        catch (Exception e)
        {
            Close();
            _stopped.TrySetResult();
            _started.TrySetException(e);
            return;
        }

        _running = true;
        _started.TrySetResult();
        try
        {
            Loop();
        }
        catch (Exception e)
        {
            ZeroMqLog.LoopFailed(_logger, e);
        }
        finally
        {
            _running = false;
            Close();
            _stopped.TrySetResult();
        }
    }

    private void Open()
    {
        var version = Interop.LibraryVersion();
        _context = Interop.CreateContext();
        _wakeFd = Interop.CreateEventFd();

        _pub = Interop.CreateSocket(_context, Interop.ZMQ_PUB);
        Interop.SetOption(_pub, Interop.ZMQ_LINGER, 0);
        Interop.SetOption(_pub, Interop.ZMQ_SNDHWM, _options.SendHighWaterMark);
        _sub = Interop.CreateSocket(_context, Interop.ZMQ_SUB);
        Interop.SetOption(_sub, Interop.ZMQ_LINGER, 0);
        Interop.SetOption(_sub, Interop.ZMQ_RCVHWM, _options.ReceiveHighWaterMark);
        Interop.SetOption(_sub, Interop.ZMQ_MAXMSGSIZE, (long)_options.MaxDatagramSize);
        Interop.SetOption(_sub, Interop.ZMQ_RECONNECT_IVL_MAX, ReconnectIntervalMaxMilliseconds);
        Interop.SetOption(_sub, Interop.ZMQ_SUBSCRIBE, ReadOnlySpan<byte>.Empty);

        if (_options.GroupEndpoint is { } group)
        {
            // norm:// and epgm:// carry the group: both sockets join it, at the configured rate (libzmq's default
            // of 100 kbit/s throttles a cluster to a crawl).
            Interop.SetOption(_pub, Interop.ZMQ_RATE, _options.Rate);
            Interop.SetOption(_sub, Interop.ZMQ_RATE, _options.Rate);
            if (group.StartsWith("norm://", StringComparison.OrdinalIgnoreCase))
                ZeroMqLog.NormExperimental(_logger);
            var joined = WithNormNodeId(group);
            Interop.Connect(_pub, joined);
            Interop.Connect(_sub, joined);
            _publishAddress = group;
        }
        else
        {
            Interop.Bind(_pub, _options.PublishEndpoint);
            _publishAddress = Announced(Interop.GetStringOption(_pub, Interop.ZMQ_LAST_ENDPOINT));
            foreach (var peer in _options.Peers)
                ConnectPeer(peer, throwOnError: true);
        }

        _pull = Interop.CreateSocket(_context, Interop.ZMQ_PULL);
        Interop.SetOption(_pull, Interop.ZMQ_LINGER, 0);
        Interop.SetOption(_pull, Interop.ZMQ_RCVHWM, _options.ReceiveHighWaterMark);
        Interop.SetOption(_pull, Interop.ZMQ_MAXMSGSIZE, (long)_options.MaxDatagramSize);
        Interop.Bind(_pull, _options.UnicastEndpoint);
        _localAddress = Announced(Interop.GetStringOption(_pull, Interop.ZMQ_LAST_ENDPOINT));

        ZeroMqLog.Started(_logger, version, _publishAddress, _localAddress, _connectedPeers.Count);
    }

    // NORM identifies senders by a 32-bit node id that libzmq derives from the host address when the endpoint gives
    // none, so nodes sharing a host (or NAT) collide and receive almost nothing: give this node a random one.
    internal static string WithNormNodeId(string group)
    {
        const string Norm = "norm://";
        if (!group.StartsWith(Norm, StringComparison.OrdinalIgnoreCase))
            return group;
        var rest = group[Norm.Length..];
        var comma = rest.IndexOf(',', StringComparison.Ordinal);
        if (comma > 0 && uint.TryParse(rest.AsSpan(0, comma), out _))
            return group;
        return $"{Norm}{Random.Shared.Next(1, int.MaxValue)},{rest}";
    }

    // The bound endpoint as peers should connect to it: a wildcard host becomes AdvertisedHost.
    private string Announced(string bound)
    {
        const string Tcp = "tcp://";
        if (!bound.StartsWith(Tcp, StringComparison.Ordinal))
            return bound;
        var colon = bound.LastIndexOf(':');
        var host = bound[Tcp.Length..colon];
        if (host is not ("0.0.0.0" or "[::]" or "*"))
            return bound;
        if (_options.AdvertisedHost is { } advertised)
            return $"{Tcp}{advertised}{bound[colon..]}";
        ZeroMqLog.WildcardAnnounced(_logger, bound);
        return bound;
    }

    private void ConnectPeer(string endpoint, bool throwOnError)
    {
        // The same peer list may go to every node: skip this node's own PUB.
        if (string.Equals(endpoint, _options.PublishEndpoint, StringComparison.OrdinalIgnoreCase)
            || string.Equals(endpoint, _publishAddress, StringComparison.OrdinalIgnoreCase)
            || !_connectedPeers.Add(endpoint))
            return;
        try
        {
            Interop.Connect(_sub!, endpoint);
            ZeroMqLog.PeerConnected(_logger, endpoint);
        }
        catch (ZeroMqException e) when (!throwOnError)
        {
            ZeroMqLog.ConnectFailed(_logger, endpoint, e);
        }
    }

    private void Loop()
    {
        Span<ZmqPollItem> items =
        [
            ZmqPollItem.ForFileDescriptor((int)_wakeFd!.DangerousGetHandle(), Interop.ZMQ_POLLIN),
            ZmqPollItem.ForSocket(_sub!, Interop.ZMQ_POLLIN),
            ZmqPollItem.ForSocket(_pull!, Interop.ZMQ_POLLIN),
        ];
        var nextIdleCheck = Environment.TickCount64 + (long)UnicastIdleTimeout.TotalMilliseconds;
        while (true)
        {
            // Reset the eventfd, then clear the flag (a full fence, so the queue is read after it): whatever is queued
            // from now on signals again. In the other order a signal landing in between would be consumed while the
            // flag stayed set, and every later Wake() would skip the eventfd: a lost wakeup.
            Interop.DrainEventFd(_wakeFd);
            Interlocked.Exchange(ref _wakePending, 0);
            if (_stopping)
                return;
            while (_peersToConnect.TryDequeue(out var peer))
            {
                // With a multicast group there are no PUBs to connect to.
                if (_options.GroupEndpoint is null)
                    ConnectPeer(peer, throwOnError: false);
            }
            var more = SendQueued();

            var now = Environment.TickCount64;
            if (now >= nextIdleCheck)
            {
                CloseIdleUnicast(now);
                nextIdleCheck = now + (long)UnicastIdleTimeout.TotalMilliseconds;
            }
            Interop.Poll(items, more ? 0 : Math.Max(1, nextIdleCheck - now));
            if (items[1].IsReadable)
                ReceiveFrom(_sub!);
            if (items[2].IsReadable)
                ReceiveFrom(_pull!);
        }
    }

    private bool SendQueued()
    {
        var reader = _sendQueue.Reader;
        for (var i = 0; i < BatchSize; i++)
        {
            if (!reader.TryRead(out var item))
                return false;
            try
            {
                SendOne(item);
            }
            catch (ZeroMqException e)
            {
                Counters.OnDropped();
                ZeroMqLog.SendFailed(_logger, e);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(item.Buffer);
            }
        }
        return true;
    }

    private void SendOne(Outgoing item)
    {
        var frame = item.Buffer.AsSpan(0, item.Length);
        if (item.Address is null)
        {
            // PUB never blocks and never reports EAGAIN: past the high-water mark it drops silently.
            Interop.Send(_pub!, frame, Interop.ZMQ_DONTWAIT);
            Counters.OnGroupSent();
            return;
        }
        var peer = UnicastTo(item.Address);
        if (peer.Socket is null)
        {
            Counters.OnDropped();
            return;
        }
        peer.LastUsed = Environment.TickCount64;
        if (Interop.Send(peer.Socket, frame, Interop.ZMQ_DONTWAIT))
            Counters.OnUnicastSent();
        else
            Counters.OnDropped();
    }

    private UnicastPeer UnicastTo(string address)
    {
        if (_unicast.TryGetValue(address, out var peer))
            return peer;
        peer = new UnicastPeer { LastUsed = Environment.TickCount64 };
        var socket = Interop.CreateSocket(_context!, Interop.ZMQ_PUSH);
        try
        {
            Interop.SetOption(socket, Interop.ZMQ_LINGER, 0);
            Interop.SetOption(socket, Interop.ZMQ_SNDHWM, _options.SendHighWaterMark);
            Interop.SetOption(socket, Interop.ZMQ_RECONNECT_IVL_MAX, ReconnectIntervalMaxMilliseconds);
            Interop.Connect(socket, address);
            peer.Socket = socket;
        }
        catch (ZeroMqException e)
        {
            // Remembered without a socket, so a bad address logs once and its datagrams are dropped.
            socket.Dispose();
            ZeroMqLog.ConnectFailed(_logger, address, e);
        }
        _unicast[address] = peer;
        return peer;
    }

    private void CloseIdleUnicast(long now)
    {
        var idle = (long)UnicastIdleTimeout.TotalMilliseconds;
        foreach (var (address, peer) in _unicast)
        {
            if (now - peer.LastUsed < idle)
                continue;
            peer.Socket?.Dispose();
            _unicast.Remove(address);
            ZeroMqLog.UnicastIdleClosed(_logger, address);
        }
    }

    private void ReceiveFrom(ZmqSocketHandle socket)
    {
        var message = default(ZmqMessage);
        Interop.InitMessage(ref message);
        try
        {
            for (var i = 0; i < BatchSize; i++)
            {
                if (!Interop.Receive(ref message, socket, Interop.ZMQ_DONTWAIT))
                    return;
                if (Interop.MessageMore(ref message))
                {
                    SkipRestOfMessage(ref message, socket);
                    continue;
                }
                Counters.OnReceived();
                try
                {
                    _handler!.OnDatagram(Interop.MessageData(ref message));
                }
                catch (Exception e)
                {
                    ZeroMqLog.HandlerFailed(_logger, e);
                }
            }
        }
        finally
        {
            Interop.CloseMessage(ref message);
        }
    }

    // A datagram is exactly one frame; a multi-frame message is not ours.
    private void SkipRestOfMessage(ref ZmqMessage message, ZmqSocketHandle socket)
    {
        Counters.OnInvalid();
        while (Interop.MessageMore(ref message) && Interop.Receive(ref message, socket, 0))
        {
        }
    }

    private void Close()
    {
        _sendQueue.Writer.TryComplete();
        while (_sendQueue.Reader.TryRead(out var item))
            Drop(item);
        foreach (var peer in _unicast.Values)
            peer.Socket?.Dispose();
        _unicast.Clear();
        // ZMQ_LINGER is 0 on every socket, so closing discards what is unsent and zmq_ctx_term returns at once.
        _pull?.Dispose();
        _sub?.Dispose();
        _pub?.Dispose();
        _context?.Dispose();
        _wakeFd?.Dispose();
    }

    private sealed class UnicastPeer
    {
        public ZmqSocketHandle? Socket { get; set; }

        public long LastUsed { get; set; }
    }
}
