using System.Collections.Concurrent;
using System.Text.Json;
using HepDb.Engines;

namespace HepDb.Hosting.LocalEngines;

/// <summary>What the supervisor of a local engine server last reported.</summary>
/// <param name="Restarting">True from the server's unexpected exit until it answers again.</param>
/// <param name="Attempt">The restart attempt under way (1 for the first after an exit); 0 while running.</param>
/// <param name="Restarts">How many times the server has been restarted since HepDb started.</param>
/// <param name="LastExit">How it last exited unexpectedly, e.g. <c>signal 9</c> or <c>exit code 1</c>.</param>
/// <param name="SupervisorPid">The HepDb process that supervises it, so that a reader elsewhere can ignore a report left
/// behind by a HepDb that is no longer running.</param>
public sealed record LocalEngineState(bool Restarting, int Attempt, int Restarts, string? LastExit, DateTime Since, int SupervisorPid)
{
    /// <summary>For people: <c>restarting (attempt 3, last exit: signal 9)</c>, <c>running (restarted 1×, last exit: signal 9)</c>.</summary>
    public string Describe() =>
        Restarting ? $"restarting (attempt {Attempt}, last exit: {LastExit})"
        : Restarts > 0 ? $"running (restarted {Restarts}×, last exit: {LastExit})"
        : "running";
}

/// <summary>
/// The supervision state of the local engine servers, for <c>/readyz</c>, the admin area and <c>hepdb-admin engine
/// list</c>. The HepDb process that runs the servers keeps it in memory and also writes it to
/// <c>{DataDir}/engines/{engine}/supervisor.json</c>, which is how the operator tool, a separate process on the same
/// host and data folder, reads it.
/// </summary>
public sealed class LocalEngineStatus(string dataDir)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private readonly ConcurrentDictionary<EngineKind, LocalEngineState> _reported = [];

    public void Report(EngineKind kind, LocalEngineState state)
    {
        _reported[kind] = state;
        var path = FileOf(kind);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path + ".tmp", JsonSerializer.Serialize(state, Json));
        File.Move(path + ".tmp", path, overwrite: true);
    }

    /// <summary>Forgets every report (a requested stop): the servers are no longer supervised.</summary>
    public void Clear()
    {
        foreach (var kind in _reported.Keys)
        {
            _reported.TryRemove(kind, out _);
            File.Delete(FileOf(kind));
        }
    }

    /// <summary>The supervision state of the adapter's server: null unless it is a local server that a running HepDb
    /// supervises (this process, or another one on the same data folder).</summary>
    public LocalEngineState? For(IEngineAdapter adapter) => adapter.Server.Local ? Find(adapter.Kind) : null;

    public LocalEngineState? Find(EngineKind kind)
    {
        if (_reported.TryGetValue(kind, out var mine)) return mine;
        try
        {
            var found = JsonSerializer.Deserialize<LocalEngineState>(File.ReadAllText(FileOf(kind)), Json);
            return found is not null && Directory.Exists($"/proc/{found.SupervisorPid}") ? found : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            return null; // no report (no HepDb has run local servers here), or one being replaced right now
        }
    }

    private string FileOf(EngineKind kind) => Path.Combine(dataDir, "engines", kind.WireName(), "supervisor.json");
}
