// Load checker: filled in by the host issue.
return 0;
