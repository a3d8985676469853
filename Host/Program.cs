// The node host: filled in by the host issue.
return 0;
