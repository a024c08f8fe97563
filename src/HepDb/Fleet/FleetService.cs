using System.Text.RegularExpressions;
using HepDb.Api;
using HepDb.Audit;
using HepDb.Data;
using HepDb.Databases;
using HepDb.Engines;
using HepDb.Security;
using Microsoft.EntityFrameworkCore;

namespace HepDb.Fleet;

/// <summary>One server as the operator sees it: its record, what it holds, and (when asked for) how it answers.</summary>
public sealed record ServerView(EngineServer Row, int Databases, long Bytes, EngineProbe? Probe)
{
    public string Endpoint => $"{Row.Host}:{Row.Port}";
}

/// <summary>What <c>hepdb-admin server add</c> and <c>server set</c> ask for; null leaves a value as it is (set).</summary>
public sealed record ServerSettings(
    string? Host = null, int? Port = null, string? PublicHost = null, int? PublicPort = null, string? AdminUser = null,
    string? AdminPassword = null, int? MaxDatabases = null, long? MaxBytes = null, bool? RequireTls = null,
    string? CaCertificateFile = null, string? HbaFile = null, ServerState? State = null)
{
    /// <summary>Whether these settings change how HepDb connects (then the server is probed with them first).</summary>
    public bool ChangesConnection => Host is not null || Port is not null || AdminUser is not null || AdminPassword is not null
                                     || RequireTls is not null || CaCertificateFile is not null || HbaFile is not null;
}

/// <summary>
/// The operator's side of the fleet (<c>hepdb-admin server …</c>, the admin area's Servers page): list, add, change,
/// drain and remove engine servers. Each change is audited and reaches every replica through <see cref="FleetSync"/>;
/// this process takes it at once.
/// </summary>
public sealed partial class FleetService(HepDbContext db, EngineRegistry engines, IEnumerable<IEngineAdapterFactory> factories, SecretBox box,
    TimeProvider time, ILogger<FleetService> logger)
{
    [GeneratedRegex("^[a-z0-9][a-z0-9-]{0,62}$")]
    private static partial Regex NamePattern();

    /// <summary>Every server with its databases and bytes; with <paramref name="probe"/>, each is asked how it is (in parallel).</summary>
    public async Task<IReadOnlyList<ServerView>> ListAsync(bool probe, CancellationToken ct)
    {
        await FleetSync.LoadAsync(db, engines, ct);
        var loads = await Placement.LoadsAsync(db, kind: null, ct);
        var servers = engines.Servers;
        var probes = probe ? await Task.WhenAll(servers.Select(s => s.Adapter.ProbeAsync(ct))) : null;
        return servers.Select((s, i) =>
        {
            var (count, bytes) = loads.GetValueOrDefault(s.Id);
            return new ServerView(s.Row, count, bytes, probes?[i]);
        }).ToList();
    }

    /// <summary>A server by name (<c>default</c>), by name and engine, or by id (<c>mariadb/default</c>).</summary>
    public Outcome<FleetServer> Find(string reference, string? engine = null)
    {
        if (engine is not null && !EngineKinds.TryParse(engine, out _)) return ApiErrors.InvalidEngine();
        var matches = engines.Servers.Where(s => s.Id == reference || (s.Name == reference && (engine is null || s.Kind.WireName() == engine))).ToList();
        return matches.Count switch
        {
            0 => ApiErrors.ServerNotFound(reference),
            1 => matches[0],
            _ => ApiErrors.AmbiguousServer(reference, matches.Select(m => m.Kind.WireName())),
        };
    }

    /// <summary>Adds a server after checking that HepDb can reach it with these credentials.</summary>
    public async Task<Outcome<FleetServer>> AddAsync(string? engine, string? name, ServerSettings settings, Actor actor, CancellationToken ct)
    {
        await FleetSync.LoadAsync(db, engines, ct);
        if (!EngineKinds.TryParse(engine, out var kind)) return ApiErrors.InvalidEngine();
        if (name is null || !NamePattern().IsMatch(name))
            return ApiErrors.InvalidServer("A server name is 1-63 characters of a-z, 0-9 and '-', starting with a letter or digit.");
        if (engines.ServersOf(kind).Any(s => s.Name == name)) return ApiErrors.InvalidServer($"{kind.WireName()} already has a server named '{name}'.");
        if (settings.MaxDatabases is null) return ApiErrors.InvalidServer("A new server needs its capacity: --max-databases.");
        var now = time.GetUtcNow().UtcDateTime;
        var id = EngineServer.IdOf(kind, name);
        var row = new EngineServer
        {
            Id = id, Engine = kind, Name = name, Host = settings.Host ?? "", AdminUser = settings.AdminUser ?? "", State = settings.State ?? ServerState.Active,
            CreatedAt = now, ChangedAt = now,
        };
        if (await ApplyAsync(row, settings, ct) is { } problem) return problem;
        db.EngineServers.Add(row);
        db.Record(time, actor, null, "server.added", id, $"{row.Host}:{row.Port} max {row.MaxDatabases} databases{(row.MaxBytes is { } b ? $", {b} bytes" : "")}");
        await db.SaveChangesAsync(ct);
        return await ChangedAsync(id, "added", ct);
    }

    /// <summary>Changes a server's settings, capacity or state. The configured server's connection settings belong to
    /// configuration; only its public address, capacity and state change here.</summary>
    public async Task<Outcome<FleetServer>> SetAsync(string reference, string? engine, ServerSettings settings, Actor actor, CancellationToken ct)
    {
        await FleetSync.LoadAsync(db, engines, ct);
        var found = Find(reference, engine);
        if (!found.Ok) return found.Problem!;
        var row = await db.EngineServers.SingleAsync(s => s.Id == found.Value!.Id, ct);
        if (row.Configured && settings.ChangesConnection)
            return ApiErrors.InvalidServer($"{row.Id} is the configured server: change its connection settings in configuration (Engines:{row.Engine.DisplayName()}), not here.");
        if (await ApplyAsync(row, settings, ct) is { } problem) return problem;
        row.ChangedAt = time.GetUtcNow().UtcDateTime;
        var what = Describe(settings);
        db.Record(time, actor, null, "server.changed", row.Id, what);
        await db.SaveChangesAsync(ct);
        return await ChangedAsync(row.Id, what, ct);
    }

    /// <summary>Removes a server that holds no database (nor one being moved to it).</summary>
    public async Task<Outcome<FleetServer>> RemoveAsync(string reference, string? engine, Actor actor, CancellationToken ct)
    {
        await FleetSync.LoadAsync(db, engines, ct);
        var found = Find(reference, engine);
        if (!found.Ok) return found.Problem!;
        var server = found.Value!;
        if (server.Row.Configured)
            return ApiErrors.InvalidServer($"{server.Id} is the configured server: it comes back at every start. Drain it to keep new databases off it.");
        var held = await db.Databases.CountAsync(d => d.ServerId == server.Id || d.MoveToServerId == server.Id, ct);
        if (held > 0) return ApiErrors.ServerInUse(server.Id, held);
        await db.EngineServers.Where(s => s.Id == server.Id).ExecuteDeleteAsync(ct);
        db.Record(time, actor, null, "server.removed", server.Id, server.Row.Host + ":" + server.Row.Port);
        await db.SaveChangesAsync(ct);
        await FleetSync.LoadAsync(db, engines, ct);
        logger.ServerChanged(server.Id, "removed");
        return server;
    }

    /// <summary>Validates <paramref name="s"/> onto <paramref name="row"/>; for a connection change, checks that
    /// the server answers with them. Null when all is well.</summary>
    private async Task<Problem?> ApplyAsync(EngineServer row, ServerSettings s, CancellationToken ct)
    {
        if (s.Port is < 1 or > 65535 || s.PublicPort is < 1 or > 65535) return ApiErrors.InvalidServer("Ports are 1-65535.");
        if (s.MaxDatabases is < 0 || s.MaxBytes is < 0) return ApiErrors.InvalidServer("Capacities are positive numbers (0 removes the limit).");
        if (s.Host is not null) row.Host = s.Host.Trim();
        if (s.Port is { } port) row.Port = port;
        if (s.PublicHost is not null) row.PublicHost = s.PublicHost.Trim() is "" ? null : s.PublicHost.Trim();
        if (s.PublicPort is { } publicPort) row.PublicPort = publicPort;
        if (s.AdminUser is not null) row.AdminUser = s.AdminUser.Trim();
        if (s.AdminPassword is not null) row.AdminPasswordSealed = box.Encrypt(s.AdminPassword, row.Id);
        if (s.RequireTls is { } tls) row.RequireTls = tls;
        if (s.CaCertificateFile is not null) row.CaCertificateFile = s.CaCertificateFile is "" ? null : Path.GetFullPath(s.CaCertificateFile);
        if (s.HbaFile is not null) row.HbaFile = s.HbaFile is "" ? null : Path.GetFullPath(s.HbaFile);
        if (s.MaxDatabases is { } maxDatabases) row.MaxDatabases = maxDatabases == 0 ? null : maxDatabases;
        if (s.MaxBytes is { } maxBytes) row.MaxBytes = maxBytes == 0 ? null : maxBytes;
        if (s.State is { } state) row.State = state;
        if (string.IsNullOrWhiteSpace(row.Host) || string.IsNullOrWhiteSpace(row.AdminUser) || row.Port == 0)
            return ApiErrors.InvalidServer("A server needs --host, --port and --admin-user.");
        if (row.CaCertificateFile is { } ca && !File.Exists(ca)) return ApiErrors.InvalidServer($"No CA certificate file at {ca}.");
        if (row.HbaFile is { } hba && !File.Exists(hba)) return ApiErrors.InvalidServer($"No pg_hba.conf at {hba}.");
        // Two records of one server would each call the other's databases orphans.
        if (engines.ServersOf(row.Engine).FirstOrDefault(o => o.Id != row.Id && SameEndpoint(o.Row, row)) is { } twin)
            return ApiErrors.InvalidServer($"{twin.Id} is already {row.Host}:{row.Port}: one server is registered once.");
        if (!s.ChangesConnection) return null;

        var factory = factories.First(f => f.Kind == row.Engine);
        var adapter = factory.Create(engines.AdapterOptions(row));
        try
        {
            var probe = await adapter.ProbeAsync(ct);
            return probe.Up ? null : ApiErrors.EngineUnavailable($"{row.Engine.DisplayName()} server at {row.Host}:{row.Port}",
                $"Nothing was changed ({probe.Error}). Check the host, port, admin user and password.");
        }
        finally
        {
            if (adapter is IAsyncDisposable d) await d.DisposeAsync();
        }
    }

    /// <summary>Whether two servers are the same one: same port, and the same host (a loopback name counts as one).</summary>
    public static bool SameEndpoint(EngineServer a, EngineServer b) =>
        a.Port == b.Port && (string.Equals(a.Host, b.Host, StringComparison.OrdinalIgnoreCase) || (IsLoopback(a.Host) && IsLoopback(b.Host)));

    private static bool IsLoopback(string host) => host is "localhost" or "::1" || host.StartsWith("127.", StringComparison.Ordinal);

    private async Task<Outcome<FleetServer>> ChangedAsync(string id, string change, CancellationToken ct)
    {
        await FleetSync.LoadAsync(db, engines, ct);
        logger.ServerChanged(id, change);
        return engines.Server(id) is { } server ? server : ApiErrors.ServerNotFound(id);
    }

    private static string Describe(ServerSettings s) => string.Join(", ", new[]
    {
        s.Host is null ? null : $"host {s.Host}", s.Port is null ? null : $"port {s.Port}", s.PublicHost is null ? null : $"public host {s.PublicHost}",
        s.PublicPort is null ? null : $"public port {s.PublicPort}", s.AdminUser is null ? null : $"admin user {s.AdminUser}",
        s.AdminPassword is null ? null : "admin password", s.MaxDatabases is null ? null : $"max databases {s.MaxDatabases}",
        s.MaxBytes is null ? null : $"max bytes {s.MaxBytes}", s.RequireTls is null ? null : $"require TLS {s.RequireTls}",
        s.CaCertificateFile is null ? null : "CA file", s.HbaFile is null ? null : "pg_hba.conf", s.State is null ? null : $"state {s.State.Value.WireName()}",
    }.Where(x => x is not null)) is { Length: > 0 } d ? d : "nothing";
}
