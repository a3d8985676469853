using Multicast.LoadCheck;

return await LoadCheckRun.MainAsync(args);
