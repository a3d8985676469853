// Fixtures run in parallel: every integration test uses its own ports and groups.
[assembly: Parallelizable(ParallelScope.Fixtures)]
[assembly: LevelOfParallelism(4)]
