// HepDb runs on Linux: it supervises engine processes, uses POSIX file modes and loads Linux client libraries.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
