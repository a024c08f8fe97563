using HepDb.Api;
using HepDb.Audit;

namespace HepDb.Databases;

/// <summary>The management API, <c>/api/v1/db</c> (SPEC §3): list, create, reveal, rotate. Nothing else.</summary>
public static class DatabaseEndpoints
{
    private static readonly string[] KnownFields = ["name", "engine"];

    public sealed record ListResponse(IReadOnlyList<DatabaseView> Databases);
    public sealed record CreateRequest(string Name, string Engine);

    public static void MapDatabaseApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/db").AddEndpointFilter((c, n) => c.HttpContext.RequestServices.GetRequiredService<ApiGate>().FilterAsync(c, n));

        api.MapGet("/databases", ListAsync)
            .Produces<ApiEnvelope.Success<ListResponse>>().WithSummary("List your databases, oldest first.");
        api.MapPost("/databases", CreateAsync)
            .Produces<ApiEnvelope.Success<DatabaseAccess>>(201)
            .WithSummary("Create a database. The response is the only time the password is volunteered.");
        api.MapGet("/databases/{id}", RevealAsync)
            .Produces<ApiEnvelope.Success<DatabaseAccess>>().WithSummary("Reveal a database's current password.");
        api.MapPost("/databases/{id}/rotate", RotateAsync)
            .Produces<ApiEnvelope.Success<DatabaseAccess>>().WithSummary("Set a new password; the old one stops working for new logins at once.");

        // Every other method on a known path (HEAD and OPTIONS too) is a 405 with the Allow header, and deletion
        // pointed to the dashboard.
        api.MapMethods("/databases", ["HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"], (HttpContext h) => NotAllowed(h, "GET, POST", ApiErrors.MethodNotAllowed)).ExcludeFromDescription();
        api.MapMethods("/databases/{id}", ["DELETE"], (HttpContext h) => NotAllowed(h, "GET", ApiErrors.DeleteIsDashboardOnly)).ExcludeFromDescription();
        api.MapMethods("/databases/{id}", ["HEAD", "POST", "PUT", "PATCH", "OPTIONS"], (HttpContext h) => NotAllowed(h, "GET", ApiErrors.MethodNotAllowed)).ExcludeFromDescription();
        api.MapMethods("/databases/{id}/rotate", ["GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"], (HttpContext h) => NotAllowed(h, "POST", ApiErrors.MethodNotAllowed)).ExcludeFromDescription();
        api.Map("/{**path}", () => ApiEnvelope.Fail(ApiErrors.NotFound)).ExcludeFromDescription();
        app.Map("/api/{**path}", () => ApiEnvelope.Fail(ApiErrors.NotFound)).ExcludeFromDescription();
    }

    public static async Task<IResult> ListAsync(HttpContext http, DatabaseService databases, CancellationToken ct)
    {
        var list = await databases.ListAsync(ApiGate.Caller(http).AccountId, ct);
        return ApiEnvelope.Ok(new ListResponse(list.Select(DatabaseView.From).ToList()));
    }

    public static async Task<IResult> CreateAsync(HttpContext http, DatabaseService databases, CancellationToken ct)
    {
        var idempotencyKey = http.Request.Headers["Idempotency-Key"].ToString();
        if (idempotencyKey.Length > 255)
            return ApiEnvelope.Fail(ApiErrors.InvalidBody("The Idempotency-Key header must be at most 255 characters."));
        var body = await JsonBody.ReadObjectAsync(http.Request, ct);
        if (!body.Ok) return ApiEnvelope.Fail(body.Problem!);
        if (body.Value!.Keys.FirstOrDefault(k => !KnownFields.Contains(k)) is { } unknown)
            return ApiEnvelope.Fail(ApiErrors.InvalidBody($"Unknown field \"{unknown}\"; send only \"name\" and \"engine\"."));
        var name = JsonBody.OptionalString(body.Value, "name");
        if (!name.Ok) return ApiEnvelope.Fail(name.Problem!);
        var engine = JsonBody.OptionalString(body.Value, "engine");
        if (!engine.Ok) return ApiEnvelope.Fail(engine.Problem!);

        var caller = ApiGate.Caller(http);
        var created = await databases.CreateAsync(caller.AccountId, name.Value, engine.Value,
            Actor.Key(caller.Id, ApiGate.ClientIp(http)), idempotencyKey.Length > 0 ? idempotencyKey : null, ct);
        return Secret(http, created, StatusCodes.Status201Created);
    }

    public static async Task<IResult> RevealAsync(HttpContext http, string id, DatabaseService databases, CancellationToken ct)
    {
        var caller = ApiGate.Caller(http);
        return Secret(http, await databases.RevealAsync(caller.AccountId, id, Actor.Key(caller.Id, ApiGate.ClientIp(http)), ct));
    }

    public static async Task<IResult> RotateAsync(HttpContext http, string id, DatabaseService databases, CancellationToken ct)
    {
        if (JsonBody.UnsupportedBody(http.Request) is { } unsupported) return ApiEnvelope.Fail(unsupported);
        var caller = ApiGate.Caller(http);
        return Secret(http, await databases.RotateAsync(caller.AccountId, id, Actor.Key(caller.Id, ApiGate.ClientIp(http)), ct));
    }

    private static IResult NotAllowed(HttpContext http, string allow, Problem problem)
    {
        http.Response.Headers.Allow = allow;
        return ApiEnvelope.Fail(problem);
    }

    /// <summary>Answers that carry a password are never cached.</summary>
    private static IResult Secret(HttpContext http, Outcome<DatabaseAccess> outcome, int status = StatusCodes.Status200OK)
    {
        http.Response.Headers.CacheControl = "no-store";
        return outcome.Ok ? ApiEnvelope.Ok(outcome.Value!, status) : ApiEnvelope.Fail(outcome.Problem!);
    }
}
