using Multicast.Soak;

return await SoakRun.MainAsync(args);
