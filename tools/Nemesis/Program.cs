using Multicast.Nemesis.Running;

return await NemesisRun.MainAsync(args);
