using System.Threading.RateLimiting;
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
public sealed class ApiGate : IDisposable
{
    private const string CallerKey = "hepdb.apikey";
    private readonly PartitionedRateLimiter<string> _perKey;
    private readonly PartitionedRateLimiter<string> _perIp;
    private readonly PartitionedRateLimiter<string> _failedPerIp;

    public ApiGate(IOptions<RateLimitOptions> options)
    {
        var o = options.Value;
        _perKey = PerMinute(o.PerKeyPerMinute);
        _perIp = PerMinute(o.PerIpPerMinute);
        _failedPerIp = PerMinute(o.FailedAuthPerIpPerMinute);
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
        using (var lease = _perIp.AttemptAcquire(ip))
            if (!lease.IsAcquired) return Limited(http, lease);
        using (var lease = _perKey.AttemptAcquire(auth.Value!.Id))
            if (!lease.IsAcquired) return Limited(http, lease);

        http.Items[CallerKey] = auth.Value;
        http.RequestServices.GetRequiredService<KeyUsageRecorder>().Record(auth.Value.Id, ClientIp(http));
        return await next(context);
    }

    /// <summary>When <paramref name="ip"/> has used up its failed-authentication budget (shared by API keys and
    /// dashboard sign-ins), how long until it may try again; otherwise null.</summary>
    public TimeSpan? FailedAuthBlocked(string ip)
    {
        using var peek = _failedPerIp.AttemptAcquire(ip, 0);
        return peek.IsAcquired ? null : RetryAfter(peek);
    }

    public void RecordFailedAuth(string ip)
    {
        using var _ = _failedPerIp.AttemptAcquire(ip);
    }

    private static IResult Limited(HttpContext http, RateLimitLease lease) => Limited(http, RetryAfter(lease));

    private static IResult Limited(HttpContext http, TimeSpan retry)
    {
        http.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retry.TotalSeconds)).ToString();
        return ApiEnvelope.Fail(ApiErrors.RateLimited);
    }

    private static TimeSpan RetryAfter(RateLimitLease lease) =>
        lease.TryGetMetadata(MetadataName.RetryAfter, out var after) ? after : TimeSpan.FromSeconds(60);

    private static PartitionedRateLimiter<string> PerMinute(int permits) =>
        PartitionedRateLimiter.Create<string, string>(partition => RateLimitPartition.GetFixedWindowLimiter(partition, _ =>
            new FixedWindowRateLimiterOptions { PermitLimit = Math.Max(1, permits), Window = TimeSpan.FromMinutes(1), QueueLimit = 0 }));

    public void Dispose()
    {
        _perKey.Dispose();
        _perIp.Dispose();
        _failedPerIp.Dispose();
    }
}
