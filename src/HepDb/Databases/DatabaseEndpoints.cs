using HepDb.Allowlists;
using HepDb.Api;
using HepDb.Backups;
using Microsoft.OpenApi;

namespace HepDb.Databases;

/// <summary>The management API, <c>/api/v1/db</c> (SPEC §3): list, create, reveal, rotate. Nothing else.</summary>
public static class DatabaseEndpoints
{
    public sealed record ListResponse(IReadOnlyList<DatabaseView> Databases);

    /// <summary>The body of a create. Both fields are checked by the service (INVALID_NAME, INVALID_ENGINE), so either may
    /// be missing here; anything else in the body, or a field that is not a string, is INVALID_BODY.</summary>
    public sealed record CreateRequest(string? Name, string? Engine)
    {
        private static readonly string[] Fields = ["name", "engine"];

        public static Outcome<CreateRequest> From(Dictionary<string, System.Text.Json.JsonElement> body)
        {
            if (body.Keys.FirstOrDefault(k => !Fields.Contains(k)) is { } unknown)
                return ApiErrors.InvalidBody($"Unknown field \"{unknown}\"; send only \"name\" and \"engine\".");
            var name = JsonBody.OptionalString(body, "name");
            if (!name.Ok) return name.Problem!;
            var engine = JsonBody.OptionalString(body, "engine");
            if (!engine.Ok) return engine.Problem!;
            return new CreateRequest(name.Value, engine.Value);
        }
    }

    public static void MapDatabaseApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/db").RequireAuthorization(ApiKeyAuthentication.Policy);

        // Each operation with its answer and every SPEC §3 failure it can give (all in the error envelope).
        api.MapGet("/databases", ListAsync)
            .Produces<ApiEnvelope.Success<ListResponse>>().Fails()
            .WithSummary("List your databases, oldest first.");
        api.MapPost("/databases", CreateAsync)
            .DescribesBody<CreateRequest>()
            .Produces<ApiEnvelope.Success<DatabaseAccess>>(201).Fails(400, 403, 413, 415, 422, 503)
            .WithSummary("Create a database. The response is the only time the password is volunteered.");
        api.MapGet("/databases/{id}", RevealAsync)
            .Produces<ApiEnvelope.Success<DatabaseAccess>>().Fails(404, 503)
            .WithSummary("Reveal a database's current password.");
        api.MapPost("/databases/{id}/rotate", RotateAsync)
            .Produces<ApiEnvelope.Success<DatabaseAccess>>().Fails(404, 415, 503)
            .WithSummary("Set a new password; the old one stops working for new logins at once.");

        api.MapBackupApi();
        api.MapAllowlistApi();

        // Every other method on a known path (HEAD and OPTIONS too) is a 405 with the Allow header, and deletion
        // pointed to the dashboard.
        api.MapMethods("/databases", ["HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"], (HttpContext h) => NotAllowed(h, "GET, POST", ApiErrors.MethodNotAllowed)).ExcludeFromDescription();
        api.MapMethods("/databases/{id}", ["DELETE"], (HttpContext h) => NotAllowed(h, "GET", ApiErrors.DeleteIsDashboardOnly)).ExcludeFromDescription();
        api.MapMethods("/databases/{id}", ["HEAD", "POST", "PUT", "PATCH", "OPTIONS"], (HttpContext h) => NotAllowed(h, "GET", ApiErrors.MethodNotAllowed)).ExcludeFromDescription();
        api.MapMethods("/databases/{id}/rotate", ["GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"], (HttpContext h) => NotAllowed(h, "POST", ApiErrors.MethodNotAllowed)).ExcludeFromDescription();
        api.Map("/{**path}", () => ApiEnvelope.Fail(ApiErrors.NotFound)).ExcludeFromDescription();
        app.Map("/api/{**path}", () => ApiEnvelope.Fail(ApiErrors.NotFound)).ExcludeFromDescription();
    }

    public static async Task<IResult> ListAsync(ApiCaller caller, DatabaseLists lists, CancellationToken ct) =>
        ApiEnvelope.Ok(new ListResponse(await lists.OfAccountAsync(caller.AccountId, ct)));

    public static async Task<IResult> CreateAsync(HttpContext http, ApiCaller caller, DatabaseService databases, CancellationToken ct)
    {
        var idempotencyKey = http.Request.Headers["Idempotency-Key"].ToString();
        if (idempotencyKey.Length > 255)
            return ApiEnvelope.Fail(ApiErrors.InvalidBody("The Idempotency-Key header must be at most 255 characters."));
        var body = await JsonBody.ReadObjectAsync(http.Request, ct);
        if (!body.Ok) return ApiEnvelope.Fail(body.Problem!);
        var request = CreateRequest.From(body.Value!);
        if (!request.Ok) return ApiEnvelope.Fail(request.Problem!);

        var created = await databases.CreateAsync(caller.AccountId, request.Value!.Name, request.Value.Engine,
            caller.Actor, idempotencyKey.Length > 0 ? idempotencyKey : null, ct);
        return Secret(http, created, StatusCodes.Status201Created);
    }

    public static async Task<IResult> RevealAsync(HttpContext http, ApiCaller caller, string id, DatabaseService databases, CancellationToken ct) =>
        Secret(http, await databases.RevealAsync(caller.AccountId, id, caller.Actor, ct));

    public static async Task<IResult> RotateAsync(HttpContext http, ApiCaller caller, string id, DatabaseService databases, CancellationToken ct)
    {
        if (JsonBody.UnsupportedBody(http.Request) is { } unsupported) return ApiEnvelope.Fail(unsupported);
        return Secret(http, await databases.RotateAsync(caller.AccountId, id, caller.Actor, ct));
    }

    /// <summary>Describes the JSON body in the OpenAPI document only. (<c>Accepts</c> would also make routing refuse other
    /// content types before the endpoint runs, and SPEC §3 wants those answered 415 in the envelope, or accepted from
    /// <c>curl -d</c>.)</summary>
    private static RouteHandlerBuilder DescribesBody<TBody>(this RouteHandlerBuilder endpoint) =>
        endpoint.AddOpenApiOperationTransformer(async (operation, context, ct) => operation.RequestBody = new OpenApiRequestBody
        {
            Required = true,
            Content = new Dictionary<string, OpenApiMediaType>
            {
                ["application/json"] = new() { Schema = await context.GetOrCreateSchemaAsync(typeof(TBody), null, ct) },
            },
        });

    /// <summary>Declares the failures an operation answers, besides those of every API request: 401 (no usable key),
    /// 429 (rate limited) and 500. Each failure's description names the catalog's codes with its status.</summary>
    internal static RouteHandlerBuilder Fails(this RouteHandlerBuilder endpoint, params int[] statuses)
    {
        foreach (var status in new[] { 401, 429, 500 }.Concat(statuses).Order())
            endpoint.Produces<ApiEnvelope.Failure>(status);
        return endpoint.AddOpenApiOperationTransformer((operation, _, _) =>
        {
            foreach (var (status, response) in operation.Responses ?? [])
                if (int.TryParse(status, out var code) && code >= 400 && response is OpenApiResponse described)
                    described.Description = "The error envelope; code is one of: " +
                        string.Join(", ", ErrorCodes.Api.Select(ErrorCodes.Of).Where(c => c.Status == code).Select(c => c.Wire));
            return Task.CompletedTask;
        });
    }

    internal static IResult NotAllowed(HttpContext http, string allow, Problem problem)
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
