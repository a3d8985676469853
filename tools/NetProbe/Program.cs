// One reliable-channel node over UDP multicast, for the real packet loss test (run inside a network namespace).
//   NetProbe --role sender|receiver --node-id ID --interface IP --group G --port P --members N
//            --messages M [--large-every K --large-size B | --size B] [--rate MSG/S --datagram-size D --timeout-seconds T]
//   NetProbe --role member ... [--suspect-ms MS]: sends nothing, prints "VIEW <count> <view>" at every view change
//            (and "EXCLUDED <last view>") until "EXIT" (the partition test watches views through it).
// Prints, in order: "STARTED <address>" (joined), "READY" (the view has N members), then "RESULT ok ..." or
// "RESULT fail <reason>". The sender starts sending on a "GO" line on stdin (and prints "SENDING" when its first message
// goes out); every node leaves on "EXIT" or EOF.
using System.Diagnostics;
using System.Globalization;
using Multicast.Messaging;
using Multicast.NetProbe;
using Multicast.Transports.Udp;

var options = ProbeArguments.Parse(args);
var transport = new UdpMulticastTransport(new UdpTransportOptions
{
    Group = options.Group,
    Port = options.Port,
    Interface = options.Interface,
    DatagramSize = options.DatagramSize,
});
var channel = new ReliableGroupChannel(transport, new GroupChannelOptions
{
    ClusterId = "netprobe",
    NodeId = options.NodeId,
    // The namespaces' interfaces are not loopback: a key is required (and exercises authentication under loss).
    ClusterKey = "netprobe-loss-test-key-0123456789",
    DatagramSize = options.DatagramSize,
    // Three processes on a small, busy CI machine: a node starved for a few seconds is slow, not dead.
    SuspectTimeout = TimeSpan.FromMilliseconds(options.SuspectMilliseconds),
    SendTimeout = TimeSpan.FromSeconds(30),
});
var handler = new ProbeHandler(options);
var stdin = Console.In;
using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(options.TimeoutSeconds));
try
{
    await channel.StartAsync(handler, deadline.Token);
    Output.Line($"STARTED {channel.LocalMember.Address}");
    await handler.WaitForMembersAsync(deadline.Token);
    Output.Line("READY");

    if (options.Role == "sender")
    {
        while (await stdin.ReadLineAsync(deadline.Token) is { } line && line != "GO")
        {
        }
        // Built before the clock starts: sending measures the channel, not the pattern.
        var messages = new byte[options.Messages][];
        for (long i = 0; i < options.Messages; i++)
            messages[i] = ProbeMessages.Create(i, options.SizeOf(i));
        Output.Line("SENDING");
        var clock = Stopwatch.StartNew();
        var last = -1L;
        for (long i = 0; i < options.Messages; i++)
        {
            if (options.Rate > 0)
            {
                // Paced: sleeps until the next message is due instead of spinning (the cores are shared).
                while (i >= clock.Elapsed.TotalSeconds * options.Rate + 1)
                    Thread.Sleep(1);
            }
            ProbeMessages.Stamp(messages[i]);
            last = await channel.BroadcastAsync(messages[i], deadline.Token);
        }
        await channel.WaitForAcksAsync(last, options.Members - 1, deadline.Token);
        Output.Line(string.Create(CultureInfo.InvariantCulture, $"RESULT ok sent={options.Messages} send_ms={clock.Elapsed.TotalMilliseconds:F0} {Figures(channel.Counters)}"));
    }
    else if (options.Role == "receiver")
    {
        var failure = await handler.Finished.WaitAsync(deadline.Token);
        Output.Line(failure is null
            ? $"RESULT ok received={handler.Received} {handler.Figures()} {Figures(channel.Counters)}"
            : $"RESULT fail {failure} received={handler.Received} {Figures(channel.Counters)}");
    }
    while (await stdin.ReadLineAsync(CancellationToken.None) is { } line && line != "EXIT")
    {
    }
}
catch (OperationCanceledException)
{
    Output.Line($"RESULT fail timeout after {options.TimeoutSeconds} s: received={handler.Received} view={channel.View} {Figures(channel.Counters)}");
}
catch (Exception ex)
{
    Output.Line($"RESULT fail {ex.GetType().Name}: {ex.Message}");
    return 1;
}
finally
{
    await channel.DisposeAsync();
}
return 0;

static string Figures(ChannelCounters c) => string.Create(CultureInfo.InvariantCulture,
    $"naks_sent={c.NaksSent} naks_received={c.NaksReceived} retransmissions={c.Retransmissions} multicast_repairs={c.MulticastRepairs} duplicates={c.Duplicates} datagrams_sent={c.DatagramsSent} datagrams_received={c.DatagramsReceived} views={c.ViewChanges} exclusions={c.Exclusions} slow_members={c.SlowMembers} local_stalls={c.LocalStalls} rejected_membership={c.RejectedMembership}");
