using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Multicast.AspNetCore;

/// <summary>Runs the node with the host: joins in the background at start (a failed join stops the host; the node's
/// <see cref="ClusterNode.Started"/> task then holds the error), leaves gracefully at stop (after the server has drained its requests).</summary>
internal sealed class ClusterNodeService(ClusterNode node, IHostApplicationLifetime lifetime, ILogger<ClusterNodeService> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        _ = node.StartAsync(lifetime.ApplicationStopping).ContinueWith(
            t =>
            {
                if (t.IsFaulted && !lifetime.ApplicationStopping.IsCancellationRequested)
                {
                    Log.StartFailed(logger, node.NodeId, t.Exception!.GetBaseException());
                    lifetime.StopApplication();
                }
            },
            CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => node.StopAsync(cancellationToken);
}
