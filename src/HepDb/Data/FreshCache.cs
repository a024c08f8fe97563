using System.Collections.Concurrent;

namespace HepDb.Data;

/// <summary>
/// Keeps what was read from the metadata store for at most <see cref="Freshness"/>, so a hot read costs one query per
/// key and half-second instead of one per request, with two guarantees:
/// <list type="bullet">
/// <item>after <see cref="Forget"/> (called when this replica changes what is kept) the next read goes to the store,
/// and a read that was under way when the change came is not kept;</item>
/// <item>a value counts from the moment its read began, so nothing kept outlives the state it was read from by more
/// than <see cref="Freshness"/>: a change made elsewhere (another replica, <c>hepdb-admin</c>) is seen within it.</item>
/// </list>
/// </summary>
public sealed class FreshCache<TValue>(TimeProvider time, int maxKept = 100_000) where TValue : class
{
    public static readonly TimeSpan Freshness = TimeSpan.FromMilliseconds(500);

    private sealed record Kept(TValue Value, long ReadStartedAt);

    private readonly ConcurrentDictionary<string, Kept> _kept = new(StringComparer.Ordinal);
    private readonly Lock _changes = new();
    private long _generation;

    /// <summary>The kept value of <paramref name="key"/> while fresh; otherwise <paramref name="read"/>'s, kept when not
    /// null.</summary>
    public async Task<TValue?> GetAsync(string key, Func<CancellationToken, Task<TValue?>> read, CancellationToken ct)
    {
        if (_kept.TryGetValue(key, out var kept) && time.GetElapsedTime(kept.ReadStartedAt) < Freshness) return kept.Value;

        long generation;
        lock (_changes) generation = _generation;
        var startedAt = time.GetTimestamp();
        var value = await read(ct);
        if (value is null) return null;
        lock (_changes)
        {
            // A change on this replica while the read ran may be missing from what it read: keep only if none came.
            if (_generation != generation) return value;
            if (_kept.Count >= maxKept) _kept.Clear();
            _kept[key] = new Kept(value, startedAt);
        }
        return value;
    }

    /// <summary>Drops everything kept: this replica changed what the values are read from.</summary>
    public void Forget()
    {
        lock (_changes)
        {
            _generation++;
            _kept.Clear();
        }
    }
}
