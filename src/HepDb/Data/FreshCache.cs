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
/// Requests that miss the same key together share one read instead of each sending its own (when a value expires under
/// load, dozens of requests miss it in the same millisecond).
/// </summary>
public sealed class FreshCache<TValue>(TimeProvider time, int maxKept = 100_000) where TValue : class
{
    public static readonly TimeSpan Freshness = TimeSpan.FromMilliseconds(500);

    /// <summary>A read, finished or under way, and when it began.</summary>
    private sealed record Kept(Task<TValue?> Value, long ReadStartedAt);

    private readonly ConcurrentDictionary<string, Kept> _kept = new(StringComparer.Ordinal);
    private readonly Lock _changes = new();

    /// <summary>The kept value of <paramref name="key"/> while fresh; otherwise <paramref name="read"/>'s, kept when not
    /// null. The read runs without the caller's token, since other requests may be waiting for it; each caller waits
    /// with its own.</summary>
    public Task<TValue?> GetAsync(string key, Func<CancellationToken, Task<TValue?>> read, CancellationToken ct)
    {
        if (_kept.TryGetValue(key, out var kept) && IsFresh(kept)) return kept.Value.WaitAsync(ct);

        var reading = new TaskCompletionSource<TValue?>(TaskCreationOptions.RunContinuationsAsynchronously);
        var mine = new Kept(reading.Task, time.GetTimestamp());
        lock (_changes)
        {
            // Another request may have begun the same read a moment ago: wait for that one.
            if (_kept.TryGetValue(key, out kept) && IsFresh(kept)) return kept.Value.WaitAsync(ct);
            if (_kept.Count >= maxKept) _kept.Clear();
            _kept[key] = mine;
        }
        _ = ReadAsync(key, mine, reading, read);
        return mine.Value.WaitAsync(ct);
    }

    /// <summary>Drops everything kept: this replica changed what the values are read from. A read under way is
    /// answered to those waiting for it but not kept.</summary>
    public void Forget()
    {
        lock (_changes) _kept.Clear();
    }

    private bool IsFresh(Kept kept) => time.GetElapsedTime(kept.ReadStartedAt) < Freshness;

    private async Task ReadAsync(string key, Kept mine, TaskCompletionSource<TValue?> reading, Func<CancellationToken, Task<TValue?>> read)
    {
        try
        {
            var value = await read(CancellationToken.None);
            // Nothing is kept for a read that found nothing (the next request asks the store again).
            if (value is null) _kept.TryRemove(KeyValuePair.Create(key, mine));
            reading.SetResult(value);
        }
        catch (Exception e)
        {
            _kept.TryRemove(KeyValuePair.Create(key, mine));
            reading.SetException(e);
        }
    }
}
