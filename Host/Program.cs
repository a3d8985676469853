using Multicast.Host;

return await NodeHost.RunAsync(args);
