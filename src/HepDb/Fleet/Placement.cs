using HepDb.Data;
using HepDb.Engines;
using Microsoft.EntityFrameworkCore;

namespace HepDb.Fleet;

/// <summary>One server's load as placement sees it: its databases (those being moved to it included) and their bytes,
/// against its capacity (null: no limit).</summary>
public sealed record ServerLoad(string Id, string Name, int Databases, long Bytes, int? MaxDatabases, long? MaxBytes)
{
    /// <summary>Room for one more database, a new one (empty).</summary>
    public bool HasRoom => HasRoomFor(0);

    /// <summary>Room for one more database of <paramref name="bytes"/> (one being moved here).</summary>
    public bool HasRoomFor(long bytes) => (MaxDatabases is null || Databases < MaxDatabases) && (MaxBytes is null || Bytes + bytes < MaxBytes);

    /// <summary>The share of its capacity still free, by the tighter of databases and bytes (1 without limits).</summary>
    public double Headroom => Math.Min(
        MaxDatabases is { } d ? 1 - (double)Databases / d : 1,
        MaxBytes is { } b ? 1 - (double)Bytes / b : 1);
}

/// <summary>
/// Where a new database goes: among the engine's <c>active</c> servers with room, the one with the most normalized
/// headroom, ties broken by name. Servers seen down lately come last (not left out: they may be back, and a create that
/// cannot reach one moves on to the next).
/// </summary>
public static class Placement
{
    /// <summary>The candidates in order of preference (pure, for tests and the benchmark).</summary>
    public static IReadOnlyList<ServerLoad> Rank(IEnumerable<ServerLoad> servers, Func<string, bool>? seemsUp = null) =>
        servers.Where(s => s.HasRoom)
            .OrderByDescending(s => seemsUp?.Invoke(s.Id) ?? true)
            .ThenByDescending(s => s.Headroom)
            .ThenBy(s => s.Name, StringComparer.Ordinal)
            .ToList();

    /// <summary>Chooses a server for a new database of <paramref name="kind"/>, or null when none has room. Call it inside
    /// the transaction that stores the database's record: the chosen server's row is locked (PostgreSQL; SQLite has one
    /// writer) and its load counted again, so creates racing on other accounts cannot overfill it.</summary>
    public static async Task<string?> ChooseAsync(HepDbContext db, EngineRegistry registry, EngineKind kind, IReadOnlySet<string> exclude,
        DateTime now, CancellationToken ct)
    {
        var active = await db.EngineServers.AsNoTracking().Where(s => s.Engine == kind && s.State == ServerState.Active).ToListAsync(ct);
        // Only servers this process can reach through an adapter; the configured one even before its row exists.
        var servers = active.Where(s => registry.Server(s.Id) is not null && !exclude.Contains(s.Id)).ToList();
        if (active.Count == 0)
            servers.AddRange(registry.ServersOf(kind).Where(s => s.Row.Configured && s.Row.State == ServerState.Active && !exclude.Contains(s.Id)).Select(s => s.Row));
        var loads = await LoadsAsync(db, kind, ct);
        foreach (var choice in Rank(servers.Select(s => LoadOf(s, loads)), id => registry.SeemsUp(id, now, TimeSpan.FromMinutes(1))))
        {
            await db.EngineServers.Where(s => s.Id == choice.Id).ExecuteUpdateAsync(s => s.SetProperty(x => x.ChangedAt, x => x.ChangedAt), ct);
            var server = servers.First(s => s.Id == choice.Id);
            if (LoadOf(server, await LoadsAsync(db, kind, ct)).HasRoom) return choice.Id;
        }
        return null;
    }

    /// <summary>Databases and bytes per server of <paramref name="kind"/> (null: of every engine), counting a database
    /// being moved on both servers (it occupies both until the move ends), and a record stored without a server on the
    /// one it is routed to (<see cref="EngineRegistry.ServerIdOf(Databases.TenantDatabase)"/>).</summary>
    public static async Task<Dictionary<string, (int Databases, long Bytes)>> LoadsAsync(HepDbContext db, EngineKind? kind, CancellationToken ct)
    {
        var records = kind is { } k ? db.Databases.AsNoTracking().Where(d => d.Engine == k) : db.Databases.AsNoTracking();
        var held = await records.GroupBy(d => new { d.Engine, d.ServerId })
            .Select(g => new { g.Key.Engine, g.Key.ServerId, Count = g.Count(), Bytes = g.Sum(d => d.SizeBytes) }).ToListAsync(ct);
        var incoming = await records.Where(d => d.MoveToServerId != null).GroupBy(d => d.MoveToServerId!)
            .Select(g => new { g.Key, Count = g.Count(), Bytes = g.Sum(d => d.SizeBytes) }).ToListAsync(ct);
        var loads = new Dictionary<string, (int Databases, long Bytes)>();
        foreach (var (id, count, bytes) in held.Select(h => (EngineRegistry.ServerIdOf(h.Engine, h.ServerId), h.Count, h.Bytes)).Concat(incoming.Select(i => (i.Key, i.Count, i.Bytes))))
            loads[id] = loads.TryGetValue(id, out var l) ? (l.Databases + count, l.Bytes + bytes) : (count, bytes);
        return loads;
    }

    public static ServerLoad LoadOf(EngineServer server, IReadOnlyDictionary<string, (int Databases, long Bytes)> loads)
    {
        var (count, bytes) = loads.GetValueOrDefault(server.Id);
        return new ServerLoad(server.Id, server.Name, count, bytes, server.MaxDatabases, server.MaxBytes);
    }
}
