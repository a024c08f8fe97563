using System.Security.Claims;
using System.Text.Encodings.Web;
using HepDb.ApiKeys;
using HepDb.Audit;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace HepDb.Api;

/// <summary>
/// API-key authentication for the management API: the <see cref="Scheme"/> authentication scheme and the
/// <see cref="Policy"/> authorization policy that the <c>/api/v1/db</c> group requires. A refusal is answered in the
/// SPEC envelope (MISSING_KEY, BAD_KEY, KEY_DISABLED with 401; RATE_LIMITED with 429 and Retry-After when the address
/// has used up its failed-authentication budget, which it shares with dashboard sign-in).
/// </summary>
public static class ApiKeyAuthentication
{
    public const string Scheme = "ApiKey";
    public const string Policy = "ApiKey";
    internal const string KeyIdClaim = "hepdb:key";
    internal const string AccountIdClaim = "hepdb:account";

    public static AuthenticationBuilder AddApiKeys(this AuthenticationBuilder builder) =>
        builder.AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(Scheme, null);

    public static void AddApiKeyPolicy(this Microsoft.AspNetCore.Authorization.AuthorizationOptions options) =>
        options.AddPolicy(Policy, p => p.AddAuthenticationSchemes(Scheme).RequireAuthenticatedUser());
}

/// <summary>Who is calling the management API: the key, its account and the address. Bound from the authenticated
/// request, so an endpoint simply takes an <see cref="ApiCaller"/> parameter.</summary>
public sealed record ApiCaller(string KeyId, string AccountId, string? Ip)
{
    public Actor Actor => Actor.Key(KeyId, Ip);

    public static ValueTask<ApiCaller?> BindAsync(HttpContext http)
    {
        var user = http.User;
        var key = user.FindFirstValue(ApiKeyAuthentication.KeyIdClaim) ?? throw new InvalidOperationException("An API endpoint ran without API-key authentication.");
        return ValueTask.FromResult<ApiCaller?>(new ApiCaller(key, user.FindFirstValue(ApiKeyAuthentication.AccountIdClaim)!, ClientAddress.Of(http)));
    }
}

/// <summary>Why a request was not authenticated, carried from authentication to the challenge that answers it.</summary>
internal sealed class ApiKeyRefusal(Problem problem, TimeSpan? retryAfter = null) : Exception(problem.Message)
{
    public Problem Problem { get; } = problem;
    public TimeSpan? RetryAfter { get; } = retryAfter;
}

internal sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder,
    ApiKeyAuthenticator keys, FailedAuthentications failures, KeyUsageRecorder usage)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        // An address that has used up its failures is refused before its key is even looked at, so keys cannot be
        // guessed at speed.
        var ip = ClientAddress.Of(Context);
        if (failures.Blocked(ip) is { } wait) return AuthenticateResult.Fail(new ApiKeyRefusal(ApiErrors.RateLimited, wait));

        var verdict = await keys.AuthenticateAsync(ApiKeyAuthenticator.PresentedKey(Request.Headers.Authorization), Context.RequestAborted);
        if (!verdict.Ok)
        {
            failures.Record(ip);
            return AuthenticateResult.Fail(new ApiKeyRefusal(verdict.Problem!));
        }
        var key = verdict.Value!;
        usage.Record(key.Id, ip);
        var identity = new ClaimsIdentity(
            [new Claim(ApiKeyAuthentication.KeyIdClaim, key.Id), new Claim(ApiKeyAuthentication.AccountIdClaim, key.AccountId)], Scheme.Name);
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), Scheme.Name));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var result = await HandleAuthenticateOnceSafeAsync();
        var refusal = result.Failure as ApiKeyRefusal ?? new ApiKeyRefusal(ApiErrors.MissingKey);
        if (refusal.RetryAfter is { } wait) Response.Headers.RetryAfter = ApiRateLimits.RetryAfterSeconds(wait);
        await ApiEnvelope.WriteAsync(Context, refusal.Problem);
    }
}
