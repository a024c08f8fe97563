using System.Threading.RateLimiting;
using HepDb.Api;
using HepDb.Data;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace HepDb.Tests.Unit;

/// <summary>The API pipeline's own decisions: the minute window and its Retry-After, the failed-authentication
/// budget, and how long a kept read may be served.</summary>
public sealed class PipelineTests
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 4, 12, 0, 0, TimeSpan.Zero));

    [Fact]
    public void A_minute_window_refuses_over_its_permits_and_says_how_long_is_really_left()
    {
        using var window = new MinuteWindowLimiter(2, _time);
        Assert.True(window.AttemptAcquire().IsAcquired);
        _time.Advance(TimeSpan.FromSeconds(20));
        Assert.True(window.AttemptAcquire().IsAcquired);
        _time.Advance(TimeSpan.FromSeconds(15));

        using var refused = window.AttemptAcquire();
        Assert.False(refused.IsAcquired);
        Assert.True(refused.TryGetMetadata(MetadataName.RetryAfter, out var wait));
        Assert.Equal(TimeSpan.FromSeconds(25), wait); // the window began with the first request, 35 s ago
        Assert.Equal("25", ApiRateLimits.RetryAfterSeconds(wait));

        _time.Advance(TimeSpan.FromSeconds(25));
        Assert.True(window.AttemptAcquire().IsAcquired); // a new window
        Assert.Null(window.IdleDuration);
    }

    [Fact]
    public void Looking_at_a_window_takes_nothing_and_an_ended_window_is_idle()
    {
        using var window = new MinuteWindowLimiter(1, _time);
        Assert.True(window.AttemptAcquire(0).IsAcquired);
        Assert.True(window.AttemptAcquire(0).IsAcquired);
        Assert.True(window.AttemptAcquire().IsAcquired);
        Assert.False(window.AttemptAcquire(0).IsAcquired);
        _time.Advance(TimeSpan.FromSeconds(70));
        Assert.Equal(TimeSpan.FromSeconds(10), window.IdleDuration);
    }

    [Fact]
    public void Retry_After_is_whole_seconds_rounded_up_and_at_least_one()
    {
        Assert.Equal("1", ApiRateLimits.RetryAfterSeconds(TimeSpan.FromMilliseconds(10)));
        Assert.Equal("2", ApiRateLimits.RetryAfterSeconds(TimeSpan.FromSeconds(1.2)));
        Assert.Equal("60", ApiRateLimits.RetryAfterSeconds(TimeSpan.FromMinutes(1)));
    }

    [Fact]
    public void An_address_is_blocked_once_its_failures_are_used_up_and_others_are_not()
    {
        using var failures = new FailedAuthentications(Options.Create(new RateLimitOptions { FailedAuthPerIpPerMinute = 2 }), _time);
        failures.Record("10.0.0.1");
        Assert.Null(failures.Blocked("10.0.0.1"));
        failures.Record("10.0.0.1");
        Assert.Equal(TimeSpan.FromMinutes(1), failures.Blocked("10.0.0.1"));
        Assert.Null(failures.Blocked("10.0.0.2"));
        _time.Advance(TimeSpan.FromMinutes(1));
        Assert.Null(failures.Blocked("10.0.0.1"));
    }

    [Fact]
    public async Task A_kept_read_is_served_while_fresh_then_read_again()
    {
        var cache = new FreshCache<string>(_time);
        var reads = 0;
        Task<string?> Read(CancellationToken _) => Task.FromResult<string?>($"value {++reads}");

        Assert.Equal("value 1", await cache.GetAsync("k", Read, CancellationToken.None));
        _time.Advance(FreshCache<string>.Freshness - TimeSpan.FromMilliseconds(1));
        Assert.Equal("value 1", await cache.GetAsync("k", Read, CancellationToken.None));
        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal("value 2", await cache.GetAsync("k", Read, CancellationToken.None));
        Assert.Equal("value 3", await cache.GetAsync("other", Read, CancellationToken.None));
    }

    [Fact]
    public async Task Forget_makes_the_next_read_go_to_the_store_and_a_read_under_way_is_not_kept()
    {
        var cache = new FreshCache<string>(_time);
        Assert.Equal("old", await cache.GetAsync("k", _ => Task.FromResult<string?>("old"), CancellationToken.None));
        cache.Forget();
        Assert.Equal("new", await cache.GetAsync("k", _ => Task.FromResult<string?>("new"), CancellationToken.None));

        // A change lands while a read is under way: what that read saw may be stale, so it is answered but not kept.
        Assert.Equal("stale", await cache.GetAsync("k2", _ =>
        {
            cache.Forget();
            return Task.FromResult<string?>("stale");
        }, CancellationToken.None));
        Assert.Equal("fresh", await cache.GetAsync("k2", _ => Task.FromResult<string?>("fresh"), CancellationToken.None));
    }

    [Fact]
    public async Task Requests_that_miss_together_share_one_read_and_a_failed_read_is_not_kept()
    {
        var cache = new FreshCache<string>(_time);
        var reads = 0;
        var gate = new TaskCompletionSource<string?>();
        Task<string?> Slow(CancellationToken _) { reads++; return gate.Task; }

        var waiting = Enumerable.Range(0, 20).Select(_ => cache.GetAsync("k", Slow, CancellationToken.None)).ToList();
        gate.SetResult("shared");
        Assert.All(await Task.WhenAll(waiting), v => Assert.Equal("shared", v));
        Assert.Equal(1, reads);

        // A caller that gives up stops waiting; the read goes on for the others.
        using var gaveUp = new CancellationTokenSource();
        var slow = new TaskCompletionSource<string?>();
        var first = cache.GetAsync("j", _ => slow.Task, gaveUp.Token);
        var second = cache.GetAsync("j", _ => throw new InvalidOperationException("not a second read"), CancellationToken.None);
        await gaveUp.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => first);
        slow.SetResult("still read");
        Assert.Equal("still read", await second);

        await Assert.ThrowsAsync<InvalidOperationException>(() => cache.GetAsync("x", _ => throw new InvalidOperationException("store down"), CancellationToken.None));
        Assert.Equal("back", await cache.GetAsync("x", _ => Task.FromResult<string?>("back"), CancellationToken.None));
    }

    [Fact]
    public async Task Nothing_is_kept_for_a_read_that_found_nothing()
    {
        var cache = new FreshCache<string>(_time);
        Assert.Null(await cache.GetAsync("k", _ => Task.FromResult<string?>(null), CancellationToken.None));
        Assert.Equal("now there", await cache.GetAsync("k", _ => Task.FromResult<string?>("now there"), CancellationToken.None));
    }
}
