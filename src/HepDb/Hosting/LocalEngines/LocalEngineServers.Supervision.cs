using System.Diagnostics;
using System.Text;
using HepDb.Engines;

namespace HepDb.Hosting.LocalEngines;

/// <summary>
/// Supervision: a local server that exits while HepDb runs (a crash, an OOM kill, a stray <c>kill -9</c>) is started
/// again through the same start path as at start-up, after a growing pause (0.5 s, 1 s, 2 s, … up to 30 s; back to
/// 0.5 s once it has stayed up for a minute). A stop HepDb asked for is never followed by a restart. Meanwhile the state
/// goes to <see cref="LocalEngineStatus"/>.
/// </summary>
public sealed partial class LocalEngineServers
{
    private static readonly TimeSpan FirstPause = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan LongestPause = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan StableAfter = TimeSpan.FromMinutes(1);

    // Starts run one at a time: the start path watches the process it started last (_running[^1]).
    private readonly SemaphoreSlim _startLock = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Task> _supervisors = [];
    private LocalEngineStatus? _status;

    public LocalEngineStatus Status => _status ??= status ?? new LocalEngineStatus(dataDir);

    /// <summary>The pause before restart attempt <paramref name="attempt"/> (1-based).</summary>
    public static TimeSpan PauseBefore(int attempt) =>
        TimeSpan.FromMilliseconds(Math.Min(FirstPause.TotalMilliseconds * Math.Pow(2, Math.Min(attempt - 1, 16)), LongestPause.TotalMilliseconds));

    /// <summary>How an engine ended, from the watchdog's exit status (128 + N for signal N, as the shell reports it).</summary>
    public static string DescribeExit(int code) => code is > 128 and < 160 ? $"signal {code - 128}" : $"exit code {code}";

    /// <summary>Starts a server with <paramref name="start"/> (one of the Start…Async methods) and supervises it.</summary>
    private async Task StartSupervisedAsync(EngineKind kind, string logFile, Func<CancellationToken, Task> start, CancellationToken ct)
    {
        var process = await StartOneAsync(start, ct);
        Status.Report(kind, new LocalEngineState(false, 0, 0, null, DateTime.UtcNow, Environment.ProcessId));
        // The supervisor outlives the start call: it ends with StopAsync (_stopping), not with the caller's token.
        _supervisors.Add(Task.Run(() => SuperviseAsync(kind, logFile, start, process), CancellationToken.None));
    }

    private async Task StopSupervisingAsync()
    {
        await _stopping.CancelAsync();
        await Task.WhenAll(_supervisors);
        _supervisors.Clear();
        Status.Clear();
    }

    private async Task SuperviseAsync(EngineKind kind, string logFile, Func<CancellationToken, Task> start, SupervisedProcess process)
    {
        var ct = _stopping.Token;
        var (attempt, restarts) = (0, 0);
        try
        {
            while (true)
            {
                var up = Stopwatch.StartNew();
                await process.WaitForExitAsync(ct);
                if (process.StopRequested || ct.IsCancellationRequested) return;
                var down = Stopwatch.StartNew();
                var exit = DescribeExit(process.ExitCode);
                if (up.Elapsed > StableAfter) attempt = 0;
                logger.EngineExited(kind.DisplayName(), exit, up.Elapsed.TotalSeconds, logFile, LastLines(logFile, 8));
                while (true)
                {
                    attempt++;
                    Status.Report(kind, new LocalEngineState(true, attempt, restarts, exit, DateTime.UtcNow, Environment.ProcessId));
                    await Task.Delay(PauseBefore(attempt), ct);
                    try
                    {
                        process = await RestartAsync(process, start, ct);
                        break;
                    }
                    catch (Exception e) when (!ct.IsCancellationRequested)
                    {
                        logger.EngineRestartFailed(e, kind.DisplayName(), attempt, PauseBefore(attempt + 1).TotalSeconds, logFile, LastLines(logFile, 8));
                    }
                }
                restarts++;
                Status.Report(kind, new LocalEngineState(false, 0, restarts, exit, DateTime.UtcNow, Environment.ProcessId));
                logger.EngineServingAgain(kind.DisplayName(), down.ElapsedMilliseconds, exit, attempt, restarts);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // A requested stop: StopAsync stops whatever runs.
        }
    }

    /// <summary>Replaces the dead <paramref name="dead"/> by a fresh server, through the normal start path (which waits for
    /// the previous instance to be gone and for the new one to answer). A start that fails leaves nothing running.</summary>
    private async Task<SupervisedProcess> RestartAsync(SupervisedProcess dead, Func<CancellationToken, Task> start, CancellationToken ct)
    {
        await _startLock.WaitAsync(ct);
        try
        {
            if (_running.Remove(dead)) await dead.DisposeAsync();
        }
        finally
        {
            _startLock.Release();
        }
        return await StartOneAsync(start, ct);
    }

    private async Task<SupervisedProcess> StartOneAsync(Func<CancellationToken, Task> start, CancellationToken ct)
    {
        await _startLock.WaitAsync(ct);
        var before = _running.Count;
        try
        {
            await start(ct);
            return _running[^1];
        }
        catch
        {
            foreach (var p in _running.Skip(before).ToList())
            {
                await p.DisposeAsync();
                _running.Remove(p);
            }
            throw;
        }
        finally
        {
            _startLock.Release();
        }
    }

    /// <summary>The last lines of an engine's log, for the log line that says why it went down (cheap: reads the last 4 KiB).</summary>
    private static string LastLines(string path, int lines)
    {
        try
        {
            using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            var buffer = new byte[Math.Min(f.Length, 4096)];
            f.Seek(-buffer.Length, SeekOrigin.End);
            f.ReadExactly(buffer);
            var tail = Encoding.UTF8.GetString(buffer).Split('\n', StringSplitOptions.RemoveEmptyEntries).TakeLast(lines);
            return string.Concat(tail.Select(l => "\n  " + l.TrimEnd('\r')));
        }
        catch (IOException)
        {
            return " (no log)";
        }
    }

    /// <summary>
    /// After a <c>kill -9</c> of the postmaster its children notice within moments and exit, but until the last one has
    /// gone the old shared memory is still attached and PostgreSQL refuses to start ("pre-existing shared memory block
    /// is still in use"). Wait for that, as PostgreSQL itself checks it: the System V segment named in
    /// <c>postmaster.pid</c> has no process attached any more. PostgreSQL then removes the stale pid file itself.
    /// </summary>
    private async Task WaitForOldPostgresMemoryAsync(string data, CancellationToken ct)
    {
        var pidFile = Path.Combine(data, "postmaster.pid");
        if (!File.Exists(pidFile)) return;
        var lines = await File.ReadAllLinesAsync(pidFile, ct);
        // Line 7: the shared memory key and id, e.g. "  5432001    42".
        if (lines.Length < 7 || lines[6].Split(' ', StringSplitOptions.RemoveEmptyEntries) is not [_, var id]) return;
        var waited = Stopwatch.StartNew();
        while (waited.Elapsed < TimeSpan.FromSeconds(30) && AttachedToSharedMemory(id) > 0) await Task.Delay(50, ct);
        if (waited.ElapsedMilliseconds >= 50)
            logger.PostgresSharedMemoryWait(waited.ElapsedMilliseconds);
    }

    /// <summary>The <c>nattch</c> of a System V shared memory segment (0 when it is gone).</summary>
    private static int AttachedToSharedMemory(string shmid)
    {
        // key shmid perms size cpid lpid nattch ...
        foreach (var line in File.ReadLines("/proc/sysvipc/shm").Skip(1))
            if (line.Split(' ', StringSplitOptions.RemoveEmptyEntries) is [_, var id, _, _, _, _, var nattch, ..] && id == shmid)
                return int.Parse(nattch);
        return 0;
    }
}
