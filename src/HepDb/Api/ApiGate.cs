using System.Collections.Concurrent;
using HepDb.ApiKeys;
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
/// Authenticates every management API request with its key and applies the rate limits. Failed authentication is
/// limited much harder than normal use, and an IP that has used up its failures is refused before its key is even
/// looked at, so keys cannot be guessed at speed.
/// </summary>
public sealed class ApiGate
{
    private const string CallerKey = "hepdb.apikey";
    private readonly MinuteWindows _perKey;
    private readonly MinuteWindows _perIp;
    private readonly MinuteWindows _failedPerIp;

    public ApiGate(IOptions<RateLimitOptions> options, TimeProvider time)
    {
        var o = options.Value;
        _perKey = new MinuteWindows(o.PerKeyPerMinute, time);
        _perIp = new MinuteWindows(o.PerIpPerMinute, time);
        _failedPerIp = new MinuteWindows(o.FailedAuthPerIpPerMinute, time);
    }

    /// <summary>The authenticated key of this request (set by the filter).</summary>
    public static ApiKey Caller(HttpContext http) => (ApiKey)http.Items[CallerKey]!;

    public static string? ClientIp(HttpContext http) => http.Connection.RemoteIpAddress?.ToString();

    /// <summary>The value after an optional <c>Bearer</c> or <c>Token</c> scheme (case-insensitive), or the bare header.</summary>
    public static string? PresentedKey(string? header)
    {
        var value = header?.Trim();
        if (string.IsNullOrEmpty(value)) return null;
        foreach (var scheme in new[] { "Bearer", "Token" })
        {
            if (value.Equals(scheme, StringComparison.OrdinalIgnoreCase)) return null; // a scheme with an empty value
            if (value.Length > scheme.Length && value.StartsWith(scheme, StringComparison.OrdinalIgnoreCase) && char.IsWhiteSpace(value[scheme.Length]))
                return value[(scheme.Length + 1)..].Trim();
        }
        return value;
    }

    public async ValueTask<object?> FilterAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var ip = ClientIp(http) ?? "unknown";
        if (FailedAuthBlocked(ip) is { } retryAfter) return Limited(http, retryAfter);

        var keys = http.RequestServices.GetRequiredService<ApiKeyService>();
        var auth = await keys.AuthenticateAsync(PresentedKey(http.Request.Headers.Authorization), http.RequestAborted);
        if (!auth.Ok)
        {
            RecordFailedAuth(ip);
            return ApiEnvelope.Fail(auth.Problem!);
        }
        var key = auth.Value!;
        if ((_perIp.TryTake(ip) ?? _perKey.TryTake(key.Id)) is { } wait) return Limited(http, wait);

        http.Items[CallerKey] = key;
        http.RequestServices.GetRequiredService<KeyUsageRecorder>().Record(key.Id, ClientIp(http));
        return await next(context);
    }

    /// <summary>When <paramref name="ip"/> has used up its failed-authentication budget (shared by API keys and
    /// dashboard sign-ins), how long until it may try again; otherwise null.</summary>
    public TimeSpan? FailedAuthBlocked(string ip) => _failedPerIp.TryTake(ip, 0);

    public void RecordFailedAuth(string ip) => _failedPerIp.TryTake(ip);

    private static IResult Limited(HttpContext http, TimeSpan retry)
    {
        http.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retry.TotalSeconds)).ToString();
        return ApiEnvelope.Fail(ApiErrors.RateLimited);
    }
}

/// <summary>
/// A fixed one-minute window per partition (a key or an IP) that starts with the partition's first request. Each window
/// knows when it started, so a refusal can say how long is really left (the fixed-window limiter of
/// System.Threading.RateLimiting always answers the whole window).
/// </summary>
internal sealed class MinuteWindows(int permits, TimeProvider time)
{
    private static readonly TimeSpan Window = TimeSpan.FromMinutes(1);
    private readonly int _permits = Math.Max(1, permits);
    private readonly ConcurrentDictionary<string, Counter> _counters = new();
    private DateTimeOffset _lastSweep = time.GetUtcNow();

    private sealed class Counter(DateTimeOffset start)
    {
        public DateTimeOffset Start = start;
        public int Used;
        public bool Retired;
    }

    /// <summary>Takes <paramref name="count"/> permits (0 only looks): null when the window has room, otherwise the
    /// time left until it ends.</summary>
    public TimeSpan? TryTake(string partition, int count = 1)
    {
        var now = time.GetUtcNow();
        SweepEnded(now);
        while (true)
        {
            var counter = _counters.GetOrAdd(partition, _ => new Counter(now));
            lock (counter)
            {
                if (counter.Retired) continue; // swept away meanwhile: a new window takes its place
                if (now - counter.Start >= Window) (counter.Start, counter.Used) = (now, 0);
                if (counter.Used >= _permits) return counter.Start + Window - now;
                counter.Used += count;
                return null;
            }
        }
    }

    /// <summary>Forgets ended windows once a minute, so keys and IPs seen once do not stay in memory.</summary>
    private void SweepEnded(DateTimeOffset now)
    {
        lock (_counters)
        {
            if (now - _lastSweep < Window) return;
            _lastSweep = now;
        }
        foreach (var (partition, counter) in _counters)
            lock (counter)
                if (now - counter.Start >= Window && _counters.TryRemove(KeyValuePair.Create(partition, counter)))
                    counter.Retired = true;
    }
}
