using System.Globalization;
using System.Security.Claims;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.RateLimiting;
using HepDb.Hosting;
using Microsoft.Extensions.Options;

namespace HepDb.Api;

/// <summary>Request limits of the management API, per minute. Limits are kept in each replica's memory.</summary>
public sealed class RateLimitOptions
{
    public const string Section = "RateLimits";

    /// <summary>Requests per key per minute. Default 300.</summary>
    public int PerKeyPerMinute { get; set; } = 300;

    /// <summary>Requests per client IP per minute, whatever the key. Default 600.</summary>
    public int PerIpPerMinute { get; set; } = 600;

    /// <summary>Failed authentications per client IP per minute before the IP is refused outright. Default 20.</summary>
    public int FailedAuthPerIpPerMinute { get; set; } = 20;
}

/// <summary>
/// The management API's request limits through ASP.NET Core rate limiting: every authenticated API request takes a
/// permit from its address's window and then from its key's window (<see cref="MinuteWindowLimiter"/>); a refusal is
/// RATE_LIMITED in the SPEC envelope with the seconds really left in <c>Retry-After</c>. Requests without an API key
/// (pages, health, the webhook) are not limited here.
/// </summary>
public static class ApiRateLimits
{
    public static IServiceCollection AddApiRateLimits(this IServiceCollection services)
    {
        services.AddSingleton<FailedAuthentications>();
        services.AddRateLimiter(_ => { });
        services.AddOptions<RateLimiterOptions>().Configure<IOptions<RateLimitOptions>, TimeProvider>((o, limits, time) =>
        {
            var perIp = PartitionedRateLimiter.Create<HttpContext, string>(http => KeyId(http) is null
                ? RateLimitPartition.GetNoLimiter("")
                : RateLimitPartition.Get(ClientAddress.Of(http) ?? "unknown", _ => new MinuteWindowLimiter(limits.Value.PerIpPerMinute, time)));
            var perKey = PartitionedRateLimiter.Create<HttpContext, string>(http => KeyId(http) is not { } key
                ? RateLimitPartition.GetNoLimiter("")
                : RateLimitPartition.Get(key, _ => new MinuteWindowLimiter(limits.Value.PerKeyPerMinute, time)));
            o.GlobalLimiter = PartitionedRateLimiter.CreateChained(perIp, perKey);
            o.OnRejected = (context, _) =>
            {
                Telemetry.RateLimitHit("requests");
                if (context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var wait))
                    context.HttpContext.Response.Headers.RetryAfter = RetryAfterSeconds(wait);
                return new ValueTask(ApiEnvelope.WriteAsync(context.HttpContext, ApiErrors.RateLimited));
            };
        });
        return services;
    }

    /// <summary>Whole seconds, rounded up, at least 1.</summary>
    public static string RetryAfterSeconds(TimeSpan wait) =>
        Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds)).ToString(CultureInfo.InvariantCulture);

    private static string? KeyId(HttpContext http) => http.User.FindFirstValue(ApiKeyAuthentication.KeyIdClaim);
}

/// <summary>
/// Failed authentications per address (API keys and dashboard sign-ins share the budget): once an address has used it
/// up, it is refused outright until its window ends.
/// </summary>
public sealed class FailedAuthentications(IOptions<RateLimitOptions> options, TimeProvider time) : IDisposable
{
    private readonly PartitionedRateLimiter<string> _windows = PartitionedRateLimiter.Create<string, string>(
        ip => RateLimitPartition.Get(ip, _ => new MinuteWindowLimiter(options.Value.FailedAuthPerIpPerMinute, time)));

    /// <summary>When <paramref name="ip"/> has used up its budget, how long until it may try again; otherwise null.</summary>
    public TimeSpan? Blocked(string? ip)
    {
        using var look = _windows.AttemptAcquire(ip ?? "unknown", 0);
        if (look.IsAcquired) return null;
        Telemetry.RateLimitHit("failed_auth"); // every caller refuses the request when it is blocked
        return look.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : TimeSpan.FromMinutes(1);
    }

    public void Record(string? ip)
    {
        Telemetry.AuthenticationFailed();
        _windows.AttemptAcquire(ip ?? "unknown").Dispose();
    }

    public void Dispose() => _windows.Dispose();
}

/// <summary>
/// A fixed one-minute window that starts with the partition's first request. Unlike the fixed-window limiter of
/// System.Threading.RateLimiting, whose refusal always says "retry after the whole window", it knows when its window
/// started, so <c>Retry-After</c> counts down to the real end. No queueing: a request over the limit is refused at once.
/// </summary>
public sealed class MinuteWindowLimiter(int permits, TimeProvider time) : RateLimiter
{
    private static readonly TimeSpan Window = TimeSpan.FromMinutes(1);
    private readonly int _permits = Math.Max(1, permits);
    private readonly Lock _lock = new();
    private DateTimeOffset? _start;
    private int _used;

    public override TimeSpan? IdleDuration
    {
        get
        {
            lock (_lock)
            {
                if (_start is not { } start) return TimeSpan.Zero;
                var sinceEnd = time.GetUtcNow() - (start + Window);
                return sinceEnd >= TimeSpan.Zero ? sinceEnd : null;
            }
        }
    }

    public override RateLimiterStatistics GetStatistics()
    {
        lock (_lock) return new RateLimiterStatistics { CurrentAvailablePermits = _permits - _used };
    }

    protected override RateLimitLease AttemptAcquireCore(int permitCount)
    {
        var now = time.GetUtcNow();
        lock (_lock)
        {
            if (_start is null || now - _start.Value >= Window) (_start, _used) = (now, 0);
            // Asking for 0 permits only looks: refused once the window is used up.
            if (_used >= _permits || _used + permitCount > _permits) return new Lease(false, _start.Value + Window - now);
            _used += permitCount;
            return new Lease(true, null);
        }
    }

    protected override ValueTask<RateLimitLease> AcquireAsyncCore(int permitCount, CancellationToken cancellationToken) =>
        ValueTask.FromResult(AttemptAcquireCore(permitCount));

    private sealed class Lease(bool acquired, TimeSpan? retryAfter) : RateLimitLease
    {
        public override bool IsAcquired => acquired;

        public override IEnumerable<string> MetadataNames => retryAfter is null ? [] : [MetadataName.RetryAfter.Name];

        public override bool TryGetMetadata(string metadataName, out object? metadata)
        {
            metadata = retryAfter;
            return retryAfter is not null && metadataName == MetadataName.RetryAfter.Name;
        }
    }
}
