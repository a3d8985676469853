// Benchmarks: filled in by the transport and benchmark issues.
return 0;
