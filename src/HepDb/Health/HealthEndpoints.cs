using System.Diagnostics;
using HepDb.Data;
using HepDb.Engines;
using Microsoft.EntityFrameworkCore;

namespace HepDb.Health;

public static class HealthEndpoints
{
    public sealed record Check(string Name, string Status, string? Version, double LatencyMs, string? Error);
    public sealed record Readiness(string Status, IReadOnlyList<Check> Checks);

    public static void MapHealth(this IEndpointRouteBuilder app)
    {
        app.MapGet("/healthz", () => Results.Json(new { status = "up" })).ExcludeFromDescription();
        app.MapGet("/readyz", ReadyAsync).ExcludeFromDescription();
    }

    /// <summary>Ready when the metadata store and every configured engine server answer. 503 otherwise, with the details.</summary>
    public static async Task<IResult> ReadyAsync(HepDbContext db, EngineRegistry engines, CancellationToken ct)
    {
        var checks = new List<Check> { await MetadataAsync(db, ct) };
        var probes = engines.Configured.Select(async a =>
        {
            var p = await a.ProbeAsync(ct);
            return new Check(a.Kind.WireName(), p.Up ? "up" : "down", p.Version, Math.Round(p.Latency.TotalMilliseconds, 1), p.Error);
        });
        checks.AddRange(await Task.WhenAll(probes));
        var ready = checks.All(c => c.Status == "up");
        return Results.Json(new Readiness(ready ? "ready" : "not_ready", checks), statusCode: ready ? 200 : 503);
    }

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
