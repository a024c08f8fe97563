using System.Diagnostics;
using HepDb.Data;
using HepDb.Engines;
using HepDb.Hosting.LocalEngines;
using Microsoft.EntityFrameworkCore;

namespace HepDb.Health;

public static class HealthEndpoints
{
    /// <param name="Name"><c>metadata</c>, or the engine (<c>mariadb</c>) of an engine server check.</param>
    /// <param name="Status"><c>up</c>, <c>down</c>, or <c>restarting</c>: a local server that exited and that HepDb is
    /// starting again.</param>
    /// <param name="Supervisor">For a local server: what its supervisor reports, e.g.
    /// <c>restarting (attempt 2, last exit: signal 9)</c> or <c>running</c>. Null for other servers.</param>
    /// <param name="Server">For an engine server: its name within the engine (<c>default</c> for the configured one).</param>
    public sealed record Check(string Name, string Status, string? Version, double LatencyMs, string? Error, string? Supervisor = null, string? Server = null);
    public sealed record Readiness(string Status, IReadOnlyList<Check> Checks);

    public static void MapHealth(this IEndpointRouteBuilder app)
    {
        app.MapGet("/healthz", () => Results.Json(new { status = "up" })).ExcludeFromDescription();
        app.MapGet("/readyz", ReadyAsync).ExcludeFromDescription();
    }

    /// <summary>Ready when the metadata store answers and every engine has a server that answers (one server down of
    /// several only makes its own databases unavailable). 503 otherwise; every server's check is listed either way.</summary>
    public static async Task<IResult> ReadyAsync(HepDbContext db, EngineRegistry engines, LocalEngineStatus local, TimeProvider time, CancellationToken ct)
    {
        var metadata = await MetadataAsync(db, ct);
        var probes = engines.Servers.Select(async s =>
        {
            var p = await s.Adapter.ProbeAsync(ct);
            engines.ReportProbe(s.Id, p.Up, time.GetUtcNow().UtcDateTime);
            var supervised = local.For(s.Adapter);
            return new Check(s.Kind.WireName(), Health(p, supervised), p.Version, Math.Round(p.Latency.TotalMilliseconds, 1), p.Error, supervised?.Describe(), s.Name);
        });
        var servers = await Task.WhenAll(probes);
        var checks = new List<Check> { metadata };
        checks.AddRange(servers);
        var ready = metadata.Status == "up" && servers.GroupBy(c => c.Name).All(engine => engine.Any(c => c.Status == "up"));
        return Results.Json(new Readiness(ready ? "ready" : "not_ready", checks), statusCode: ready ? 200 : 503);
    }

    /// <summary><c>up</c> when the server answers; otherwise <c>restarting</c> while its supervisor brings it back, else <c>down</c>.</summary>
    public static string Health(EngineProbe probe, LocalEngineState? supervised) =>
        probe.Up ? "up" : supervised is { Restarting: true } ? "restarting" : "down";

    private static async Task<Check> MetadataAsync(HepDbContext db, CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        try
        {
            await db.Database.ExecuteSqlRawAsync("SELECT 1", ct);
            return new Check("metadata", "up", db.Database.ProviderName, Math.Round(sw.Elapsed.TotalMilliseconds, 1), null);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return new Check("metadata", "down", db.Database.ProviderName, Math.Round(sw.Elapsed.TotalMilliseconds, 1), "unreachable");
        }
    }
}
