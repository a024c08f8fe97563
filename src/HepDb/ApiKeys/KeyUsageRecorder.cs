using System.Collections.Concurrent;
using HepDb.Data;
using Microsoft.EntityFrameworkCore;

namespace HepDb.ApiKeys;

/// <summary>
/// Records each key's last use (time, IP) off the request path: requests drop the latest use into a map, and a
/// background loop writes the map once a second, so a burst of requests costs one UPDATE per key, not one per request.
/// </summary>
public sealed class KeyUsageRecorder(IServiceScopeFactory scopes, TimeProvider time, ILogger<KeyUsageRecorder> logger) : BackgroundService
{
    private readonly ConcurrentDictionary<string, (DateTime At, string? Ip)> _pending = new();

    public void Record(string keyId, string? ip)
    {
        var now = time.GetUtcNow().UtcDateTime;
        // Most requests find this key's use already waiting, from the same address, less than a second old: reading
        // takes no lock, writing does, and the flush would not tell the difference.
        if (_pending.TryGetValue(keyId, out var waiting) && waiting.Ip == ip && now - waiting.At < TimeSpan.FromSeconds(1)) return;
        _pending[keyId] = (now, ip);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1), time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken)) await FlushAsync(stoppingToken);
        }
        catch (OperationCanceledException)
        {
        }
        await FlushAsync(CancellationToken.None);
    }

    public async Task FlushAsync(CancellationToken ct)
    {
        if (_pending.IsEmpty) return;
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<HepDbContext>();
            foreach (var keyId in _pending.Keys.ToList())
            {
                if (!_pending.TryRemove(keyId, out var use)) continue;
                await db.ApiKeys.Where(k => k.Id == keyId)
                    .ExecuteUpdateAsync(s => s.SetProperty(k => k.LastUsedAt, use.At).SetProperty(k => k.LastUsedIp, use.Ip), ct);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.KeyUsageNotRecorded(e);
        }
    }
}
