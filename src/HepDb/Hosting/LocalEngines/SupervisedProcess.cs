using System.Diagnostics;

namespace HepDb.Hosting.LocalEngines;

/// <summary>
/// Runs an engine server so that it can never outlive HepDb. The engine is started by a small bash watchdog whose
/// stdin is a pipe from HepDb. When HepDb closes the pipe (clean stop) or dies in any way, even SIGKILL, the kernel
/// closes it, the watchdog reads EOF and sends the engine its clean-shutdown signal, then waits for it to exit.
/// </summary>
public sealed class SupervisedProcess : IAsyncDisposable
{
    // $1 = signal for a clean shutdown, the rest = the command. fd 3 keeps the pipe from HepDb for the watcher.
    private const string Watchdog = """
        sig=$1; shift
        exec 3<&0
        "$@" </dev/null 3<&- &
        child=$!
        ( while IFS= read -r -u 3 _; do :; done; kill -s "$sig" "$child" 2>/dev/null ) &
        watcher=$!
        exec 3<&-
        wait "$child"; rc=$?
        kill "$watcher" 2>/dev/null
        exit $rc
        """;

    private readonly Process _process;
    private readonly string _name;
    private readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private SupervisedProcess(Process process, string name)
    {
        _process = process;
        _name = name;
        process.Exited += (_, _) => _exited.TrySetResult();
        if (process.HasExited) _exited.TrySetResult();
    }

    public bool HasExited => _process.HasExited;
    public int Id => _process.Id;

    /// <summary>The engine's exit status as the watchdog passes it on: 128 + N when signal N ended it.</summary>
    public int ExitCode => _process.ExitCode;

    /// <summary>Whether HepDb asked for this stop, so an exit is expected and not a crash.</summary>
    public bool StopRequested { get; private set; }

    /// <summary>Completes when the watchdog, and so the engine's main process, has exited. Unlike
    /// <see cref="Process.WaitForExitAsync"/> it does not also wait for the output pipe to close, which children of the
    /// engine that outlive it (PostgreSQL backends) keep open.</summary>
    public Task WaitForExitAsync(CancellationToken ct) => _exited.Task.WaitAsync(ct);

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA2000", Justification = "The log writer is disposed by the process's Exited handler.")]
    public static SupervisedProcess Start(string name, string shutdownSignal, string logFile, IEnumerable<string> command)
    {
        // setsid: the engine gets a session of its own, so a Ctrl-C in HepDb's terminal reaches HepDb alone, which then
        // stops the engines in order, instead of the engines catching the SIGINT themselves half-way through.
        var psi = new ProcessStartInfo("setsid")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add("/bin/bash");
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(Watchdog);
        psi.ArgumentList.Add(name);
        psi.ArgumentList.Add(shutdownSignal);
        foreach (var arg in command) psi.ArgumentList.Add(arg);
        var process = Process.Start(psi) ?? throw new InvalidOperationException($"Could not start {name}.");
        var log = new StreamWriter(logFile, append: true) { AutoFlush = true };
        var closed = false;
        // Output lines can still arrive after Exited fires: once the log is closed they are dropped, not written.
        void Write(string? line) { if (line is not null) lock (log) if (!closed) log.WriteLine(line); }
        process.OutputDataReceived += (_, e) => Write(e.Data);
        process.ErrorDataReceived += (_, e) => Write(e.Data);
        process.Exited += (_, _) => { lock (log) { closed = true; log.Dispose(); } };
        process.EnableRaisingEvents = true;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new SupervisedProcess(process, name);
    }

    /// <summary>Asks the engine to shut down cleanly and waits; kills the whole tree if it does not stop in time.</summary>
    public async Task StopAsync(TimeSpan timeout)
    {
        StopRequested = true;
        if (_process.HasExited) return;
        try
        {
            _process.StandardInput.Close();
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            // It exited between the check and the close, and its end of the pipe is gone: the wait below returns at once.
        }
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync(CancellationToken.None);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(TimeSpan.FromSeconds(30));
        _process.Dispose();
    }

    public override string ToString() => $"{_name} (watchdog pid {_process.Id})";
}
