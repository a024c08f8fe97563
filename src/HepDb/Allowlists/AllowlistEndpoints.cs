using System.Text.Json;
using HepDb.Api;
using HepDb.Databases;

namespace HepDb.Allowlists;

/// <summary>The allowlist endpoints of the management API (SPEC §3b): <c>GET</c> and <c>PUT</c>
/// <c>/api/v1/db/databases/{id}/allowlist</c> with <c>{"cidrs":[…]}</c>; an empty list means from anywhere.</summary>
public static class AllowlistEndpoints
{
    public sealed record Allowlist(IReadOnlyList<string> Cidrs);

    public static void MapAllowlistApi(this RouteGroupBuilder api)
    {
        api.MapGet("/databases/{id}/allowlist", GetAsync)
            .Produces<ApiEnvelope.Success<Allowlist>>().Fails(404)
            .WithSummary("The client address ranges the database's user may log in from; an empty list means anywhere.");
        api.MapPut("/databases/{id}/allowlist", PutAsync)
            .Produces<ApiEnvelope.Success<Allowlist>>().Fails(400, 403, 404, 409, 413, 415, 503)
            .WithSummary("Replace the allowlist, e.g. {\"cidrs\":[\"203.0.113.0/24\",\"2001:db8::/32\"]}; the engine enforces it at once.");
        api.MapMethods("/databases/{id}/allowlist", ["HEAD", "POST", "PATCH", "DELETE", "OPTIONS"], (HttpContext h) => DatabaseEndpoints.NotAllowed(h, "GET, PUT", ApiErrors.MethodNotAllowed)).ExcludeFromDescription();
    }

    public static async Task<IResult> GetAsync(ApiCaller caller, string id, AllowlistService allowlists, CancellationToken ct)
    {
        var got = await allowlists.GetAsync(caller.AccountId, id, ct);
        return got.Ok ? ApiEnvelope.Ok(View(got.Value!)) : ApiEnvelope.Fail(got.Problem!);
    }

    public static async Task<IResult> PutAsync(HttpContext http, ApiCaller caller, string id, AllowlistService allowlists, CancellationToken ct)
    {
        var body = await JsonBody.ReadObjectAsync(http.Request, ct);
        if (!body.Ok) return ApiEnvelope.Fail(body.Problem!);
        if (body.Value!.Keys.FirstOrDefault(k => k != "cidrs") is { } unknown)
            return ApiEnvelope.Fail(ApiErrors.InvalidBody($"Unknown field \"{unknown}\"; the body is {{\"cidrs\":[…]}}."));
        if (!body.Value.TryGetValue("cidrs", out var cidrs) || cidrs.ValueKind != JsonValueKind.Array
            || cidrs.EnumerateArray().Any(c => c.ValueKind != JsonValueKind.String))
            return ApiEnvelope.Fail(ApiErrors.InvalidBody("cidrs must be an array of strings, like {\"cidrs\":[\"203.0.113.0/24\"]}; [] allows any address."));
        var set = await allowlists.SetAsync(caller.AccountId, id, cidrs.EnumerateArray().Select(c => c.GetString()).ToList(), caller.Actor, ct);
        return set.Ok ? ApiEnvelope.Ok(View(set.Value!)) : ApiEnvelope.Fail(set.Problem!);
    }

    private static Allowlist View(IReadOnlyList<System.Net.IPNetwork> ranges) => new(ranges.Select(r => r.ToString()).ToList());
}
