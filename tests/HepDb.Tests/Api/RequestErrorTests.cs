using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using HepDb.Tests.Infrastructure;

namespace HepDb.Tests.Api;

/// <summary>
/// The request-shaped errors of the catalog: INVALID_BODY, INVALID_NAME, INVALID_ENGINE, NOT_FOUND, METHOD_NOT_ALLOWED,
/// BODY_TOO_LARGE, UNSUPPORTED_MEDIA_TYPE — each with status, code, envelope, and nothing changed on the account.
/// </summary>
public abstract class RequestErrorTests(EngineServers engines, SharedApp shared)
{
    // Every test here runs twice, once per metadata provider, named by the class it runs in. The tests send requests as
    // an account of their own and look only at it, so each class shares one app (see SharedApp).
    public sealed class OnSqlite(EngineServers engines, SharedApp shared) : RequestErrorTests(engines.On(Metadata.Sqlite), shared), IClassFixture<SharedApp>;
    public sealed class OnPostgres(EngineServers engines, SharedApp shared) : RequestErrorTests(engines.On(Metadata.Postgres), shared), IClassFixture<SharedApp>;

    public static TheoryData<string> NotAJsonObject => new()
    {
        "[]",
        """[{"name":"a","engine":"mariadb"}]""",
        "\"a string\"",
        "42",
        "null",
        "true",
        "{",
        "{\"name\":\"a\",\"engine\":\"mariadb\"",
        """{"name":"a","engine":"mariadb"} trailing""",
        "{}{}",
        """{/* comment */"name":"a","engine":"mariadb"}""",
        "name=a&engine=mariadb",
        "",
        "   ",
    };

    [Theory, MemberData(nameof(NotAJsonObject))]
    public async Task A_body_that_is_not_a_JSON_object_is_INVALID_BODY(string body)
    {
        var app = shared.For(engines);
        var account = await app.CreateAccountAsync();
        await Refused.AssertAsync(app, account, Requests.Post(Paths.Databases, body), 400, "INVALID_BODY");
    }

    [Fact]
    public async Task No_body_at_all_is_INVALID_BODY()
    {
        var app = shared.For(engines);
        var account = await app.CreateAccountAsync();
        await Refused.AssertAsync(app, account, Requests.Post(Paths.Databases, null), 400, "INVALID_BODY");
        await Refused.AssertAsync(app, account, Requests.Post(Paths.Databases, "", contentType: null), 400, "INVALID_BODY");
    }

    public static TheoryData<string, string> BadFields => new()
    {
        { """{"name":"a","engine":"mariadb","size":1}""", "size" },
        { """{"name":"a","engine":"mariadb","Name":"b"}""", "Name" },
        { """{"name":"a","engine":"mariadb","password":"chosen-by-me"}""", "password" },
        { """{"name":"a","name":"b","engine":"mariadb"}""", "name" },
        { """{"name":"a","engine":"mariadb","engine":"mariadb"}""", "engine" },
        { """{"name":5,"engine":"mariadb"}""", "name" },
        { """{"name":["a"],"engine":"mariadb"}""", "name" },
        { """{"name":{"v":"a"},"engine":"mariadb"}""", "name" },
        { """{"name":true,"engine":"mariadb"}""", "name" },
        { """{"name":"a","engine":1}""", "engine" },
        { """{"name":"a","engine":["mariadb"]}""", "engine" },
    };

    [Theory, MemberData(nameof(BadFields))]
    public async Task Unknown_duplicate_or_wrongly_typed_fields_are_INVALID_BODY_naming_the_field(string body, string field)
    {
        var app = shared.For(engines);
        var account = await app.CreateAccountAsync();
        var message = await Refused.AssertAsync(app, account, Requests.Post(Paths.Databases, body), 400, "INVALID_BODY");
        Assert.Contains(field, message, StringComparison.Ordinal);
    }

    public static TheoryData<string> BadNames => new()
    {
        """{"engine":"mariadb"}""",
        """{"name":null,"engine":"mariadb"}""",
        """{"name":"","engine":"mariadb"}""",
        """{"name":"    ","engine":"mariadb"}""",
        """{"name":"\t\n\r ","engine":"mariadb"}""",
        $$"""{"name":"{{new string('x', 65)}}","engine":"mariadb"}""",
        $$"""{"name":"  {{new string('x', 65)}}  ","engine":"mariadb"}""",
        """{"name":"bell\u0007","engine":"mariadb"}""",
        """{"name":"two\nlines","engine":"mariadb"}""",
        """{"name":"nul\u0000byte","engine":"mariadb"}""",
        """{"name":"del\u007f","engine":"mariadb"}""",
        """{"name":"c1\u0085control","engine":"mariadb"}""",
    };

    [Theory, MemberData(nameof(BadNames))]
    public async Task A_missing_blank_too_long_or_control_character_name_is_INVALID_NAME(string body)
    {
        var app = shared.For(engines);
        var account = await app.CreateAccountAsync();
        await Refused.AssertAsync(app, account, Requests.Post(Paths.Databases, body), 400, "INVALID_NAME");
    }

    [Fact]
    public async Task A_name_of_64_characters_after_trimming_is_accepted()
    {
        var app = shared.For(engines);
        var account = await app.CreateAccountAsync();
        var name = new string('n', 63) + "é";
        var response = await account.Api.SendAsync(Requests.Post(Paths.Databases, $$"""{"name":"   {{name}}   ","engine":"mariadb"}"""));
        var data = await Shape.SuccessAsync(response, HttpStatusCode.Created);
        app.Remember(data.GetProperty("password").GetString()!);
        Assert.Equal(name, data.GetProperty("database").GetProperty("name").GetString());
    }

    public static TheoryData<string> BadEngines => new()
    {
        """{"name":"a"}""",
        """{"name":"a","engine":null}""",
        """{"name":"a","engine":""}""",
        """{"name":"a","engine":"mysql"}""",
        """{"name":"a","engine":"mongodb"}""",
        """{"name":"a","engine":"MariaDB"}""",
        """{"name":"a","engine":"sqlite"}""",
    };

    [Theory, MemberData(nameof(BadEngines))]
    public async Task A_missing_or_unknown_engine_is_INVALID_ENGINE_and_the_message_lists_the_engines(string body)
    {
        var app = shared.For(engines);
        var account = await app.CreateAccountAsync();
        var message = await Refused.AssertAsync(app, account, Requests.Post(Paths.Databases, body), 400, "INVALID_ENGINE");
        foreach (var engine in new[] { "mariadb", "postgres", "mongo" }) Assert.Contains(engine, message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unknown_ids_and_other_accounts_databases_are_NOT_FOUND_and_stay_untouched()
    {
        var app = shared.For(engines);
        var account = await app.CreateAccountAsync();
        var other = await app.CreateAccountAsync();
        var theirs = await app.CreateDatabaseAsync(other, "postgres", "theirs");
        var unknownId = Hosting.Ulid.New();

        foreach (var id in new[] { unknownId, "not-an-id", theirs.Id, theirs.Id.ToLowerInvariant() })
        {
            var reveal = await Refused.AssertAsync(app, account, new HttpRequestMessage(HttpMethod.Get, Paths.Database(id)), 404, "NOT_FOUND");
            var rotate = await Refused.AssertAsync(app, account, new HttpRequestMessage(HttpMethod.Post, Paths.Rotate(id)), 404, "NOT_FOUND");
            Assert.DoesNotContain(theirs.Password, reveal + rotate, StringComparison.Ordinal);
        }

        // Another account's id answers exactly like an unknown id (no existence leak), and nothing of theirs changed.
        var forUnknown = await (await account.Api.GetAsync(Paths.Database(unknownId))).Content.ReadAsStringAsync();
        var forTheirs = await (await account.Api.GetAsync(Paths.Database(theirs.Id))).Content.ReadAsStringAsync();
        Assert.Equal(forUnknown, forTheirs);
        var theirFootprint = await Footprint.OfAsync(app, other);
        Assert.Equal(1, theirFootprint.DatabaseRows);
        Assert.Equal(1, theirFootprint.DatabaseAudits); // only the create: no reveal or rotation was recorded
        await Tenant.MustRunAsync(theirs.ConnectionString, "SELECT 1");
    }

    [Theory]
    [InlineData("GET", "/api/v1/db/nope")]
    [InlineData("GET", "/api/v1/db")]
    [InlineData("GET", "/api/v1/db/")]
    [InlineData("POST", "/api/v1/db/database")]
    [InlineData("GET", "/api/v1/db/databases/01JAAAAAAAAAAAAAAAAAAAAAAA/nope")]
    [InlineData("POST", "/api/v1/db/databases/01JAAAAAAAAAAAAAAAAAAAAAAA/rotate/again")]
    [InlineData("GET", "/api/v1/db/keys")]
    [InlineData("POST", "/api/v1/db/keys")]
    [InlineData("GET", "/api/v2/db/databases")]
    [InlineData("GET", "/api/nothing-here")]
    public async Task An_unknown_route_is_NOT_FOUND_in_the_envelope(string method, string path)
    {
        var app = shared.For(engines);
        var account = await app.CreateAccountAsync();
        var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (method == "POST") request.Content = Requests.Json(Requests.CreateBody());
        await Refused.AssertAsync(app, account, request, 404, "NOT_FOUND");
    }

    [Fact]
    public async Task Deleting_through_the_API_is_METHOD_NOT_ALLOWED_and_points_to_the_dashboard()
    {
        var app = shared.For(engines);
        var account = await app.CreateAccountAsync();
        var db = await app.CreateDatabaseAsync(account, "mariadb");
        await Tenant.ProveWorksAsync(db.ConnectionString, "survives DELETE");

        foreach (var id in new[] { db.Id, Hosting.Ulid.New() })
        {
            var message = await Refused.AssertAsync(app, account, new HttpRequestMessage(HttpMethod.Delete, Paths.Database(id)), 405, "METHOD_NOT_ALLOWED");
            Assert.Contains("dashboard", message, StringComparison.OrdinalIgnoreCase);
        }
        Assert.Contains("survives DELETE", await Tenant.MustRunAsync(db.ConnectionString, "SELECT body FROM proof"));
    }

    [Theory]
    [InlineData("PUT", "/api/v1/db/databases", "GET, POST")]
    [InlineData("PATCH", "/api/v1/db/databases", "GET, POST")]
    [InlineData("DELETE", "/api/v1/db/databases", "GET, POST")]
    [InlineData("PUT", "/api/v1/db/databases/01JAAAAAAAAAAAAAAAAAAAAAAA", "GET")]
    [InlineData("PATCH", "/api/v1/db/databases/01JAAAAAAAAAAAAAAAAAAAAAAA", "GET")]
    [InlineData("POST", "/api/v1/db/databases/01JAAAAAAAAAAAAAAAAAAAAAAA", "GET")]
    [InlineData("GET", "/api/v1/db/databases/01JAAAAAAAAAAAAAAAAAAAAAAA/rotate", "POST")]
    [InlineData("DELETE", "/api/v1/db/databases/01JAAAAAAAAAAAAAAAAAAAAAAA/rotate", "POST")]
    public async Task Other_methods_on_known_paths_are_METHOD_NOT_ALLOWED_with_Allow(string method, string path, string allow)
    {
        var app = shared.For(engines);
        var account = await app.CreateAccountAsync();
        HttpRequestMessage Request()
        {
            var request = new HttpRequestMessage(new HttpMethod(method), path);
            if (method is "PUT" or "PATCH" or "POST") request.Content = Requests.Json(Requests.CreateBody());
            return request;
        }
        await Refused.AssertAsync(app, account, Request(), 405, "METHOD_NOT_ALLOWED");
        var again = await account.Api.SendAsync(Request());
        Assert.Equal(allow, string.Join(", ", again.Content.Headers.Allow));
    }

    [Theory]
    [InlineData("/api/v1/db/databases", "GET, POST")]
    [InlineData("/api/v1/db/databases/01JAAAAAAAAAAAAAAAAAAAAAAA", "GET")]
    [InlineData("/api/v1/db/databases/01JAAAAAAAAAAAAAAAAAAAAAAA/rotate", "POST")]
    public async Task HEAD_and_OPTIONS_on_known_paths_are_METHOD_NOT_ALLOWED_with_Allow(string path, string allow)
    {
        var app = shared.For(engines);
        var account = await app.CreateAccountAsync();
        await Refused.AssertAsync(app, account, new HttpRequestMessage(HttpMethod.Options, path), 405, "METHOD_NOT_ALLOWED");
        var options = await account.Api.SendAsync(new HttpRequestMessage(HttpMethod.Options, path));
        Assert.Equal(allow, string.Join(", ", options.Content.Headers.Allow));

        // A HEAD answer has no body by definition: the status and Allow header are what it can carry.
        var head = await account.Api.SendAsync(new HttpRequestMessage(HttpMethod.Head, path));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, head.StatusCode);
        Assert.Equal(allow, string.Join(", ", head.Content.Headers.Allow));
    }

    public static TheoryData<string> UnpairedSurrogates => new()
    {
        """{"name":"\ud800","engine":"postgres"}""",
        """{"name":"a\udc00b","engine":"postgres"}""",
        """{"name":"a","engine":"\ud800"}""",
        """{"\ud800":"a","engine":"postgres"}""",
        """{"name":"a","engine":"postgres","\udfff":1}""",
        """{"name":"<raw>","engine":"postgres"}""",
        """{"name":"a","engine":"<raw>"}""",
        """{"<raw>":"a","engine":"postgres"}""",
    };

    /// <summary>An unpaired surrogate, escaped or as the raw bytes ED A0 80 (<c>&lt;raw&gt;</c>), is not text: INVALID_BODY.</summary>
    [Theory, MemberData(nameof(UnpairedSurrogates))]
    public async Task A_string_with_an_unpaired_surrogate_is_INVALID_BODY(string body)
    {
        var app = shared.For(engines);
        var account = await app.CreateAccountAsync();
        var bytes = body.Split("<raw>").Select(Encoding.ASCII.GetBytes)
            .Aggregate((a, b) => [.. a, 0xED, 0xA0, 0x80, .. b]);
        await Refused.AssertAsync(app, account, Requests.PostBytes(Paths.Databases, bytes), 400, "INVALID_BODY");
        AssertNoErrorLogged(app);
    }

    /// <summary>Content-Length promises 200 bytes, a few arrive, then the client stops sending: after Kestrel's
    /// minimum data rate gives up, a 400 INVALID_BODY in the envelope (over a real socket), nothing created, no error
    /// logged.</summary>
    [Fact]
    public async Task A_body_cut_short_that_stops_arriving_is_INVALID_BODY()
    {
        await using var app = new HepDbApp(engines);
        app.StartRealServer();
        var account = await app.CreateAccountAsync();
        var before = await Footprint.OfAsync(app, account);

        using var tcp = new TcpClient();
        var server = new Uri(app.BaseUrl!);
        await tcp.ConnectAsync(server.Host, server.Port);
        await tcp.GetStream().WriteAsync(Encoding.ASCII.GetBytes(
            $"POST {Paths.Databases} HTTP/1.1\r\nHost: {server.Authority}\r\nAuthorization: Bearer {account.Key}\r\nConnection: close\r\n" +
            "Content-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"name\":\"slow\",\"eng"));
        // The request says Connection: close, so the answer ends with the connection; its body may be chunked, so the
        // envelope is read from the first to the last brace.
        using var reader = new StreamReader(tcp.GetStream(), Encoding.UTF8);
        var response = await reader.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.StartsWith("HTTP/1.1 400 ", response, StringComparison.Ordinal);
        var root = System.Text.Json.JsonDocument.Parse(response[response.IndexOf('{', StringComparison.Ordinal)..(response.LastIndexOf('}') + 1)]).RootElement;
        Shape.HasExactlyKeys(root, ["code", "error", "ok"]);
        Assert.Equal("INVALID_BODY", root.GetProperty("code").GetString());
        Assert.Equal(before, await Footprint.OfAsync(app, account));
        AssertNoErrorLogged(app);
    }

    private static void AssertNoErrorLogged(HepDbApp app) =>
        Assert.DoesNotContain(app.Log.Lines, l => l.StartsWith("Error ", StringComparison.Ordinal) || l.StartsWith("Critical ", StringComparison.Ordinal));

    [Theory]
    [InlineData("text/plain")]
    [InlineData("multipart/form-data; boundary=----hepdb")]
    [InlineData("application/xml")]
    public async Task Rotate_with_a_non_JSON_content_type_and_a_body_is_UNSUPPORTED_MEDIA_TYPE(string contentType)
    {
        var app = shared.For(engines);
        var account = await app.CreateAccountAsync();
        var db = await app.CreateDatabaseAsync(account, "mariadb");
        await Refused.AssertAsync(app, account, Requests.Post(Paths.Rotate(db.Id), "{}", contentType), 415, "UNSUPPORTED_MEDIA_TYPE");
        await Tenant.MustRunAsync(db.ConnectionString, "SELECT 1");

        // A JSON body, or none at all, still rotates.
        await Shape.SuccessAsync(await account.Api.SendAsync(Requests.Post(Paths.Rotate(db.Id), "{}")), HttpStatusCode.OK);
        await Shape.SuccessAsync(await account.Api.SendAsync(Requests.Post(Paths.Rotate(db.Id), null)), HttpStatusCode.OK);
    }

    [Fact]
    public async Task A_body_over_16_KiB_is_BODY_TOO_LARGE_with_or_without_Content_Length()
    {
        var app = shared.For(engines);
        var account = await app.CreateAccountAsync();
        var justOver = PaddedCreateBody(16 * 1024 + 1);
        var huge = PaddedCreateBody(4 * 1024 * 1024);

        await Refused.AssertAsync(app, account, Requests.Post(Paths.Databases, justOver), 413, "BODY_TOO_LARGE");
        await Refused.AssertAsync(app, account, Requests.PostWithoutLength(Paths.Databases, justOver), 413, "BODY_TOO_LARGE");
        await Refused.AssertAsync(app, account, Requests.PostWithoutLength(Paths.Databases, huge), 413, "BODY_TOO_LARGE");
        await Refused.AssertAsync(app, account, Requests.Post(Paths.Databases, huge), 413, "BODY_TOO_LARGE");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_body_of_exactly_16_KiB_is_accepted(bool withLength)
    {
        var app = shared.For(engines);
        var account = await app.CreateAccountAsync();
        var body = PaddedCreateBody(16 * 1024);
        var response = await account.Api.SendAsync(withLength ? Requests.Post(Paths.Databases, body) : Requests.PostWithoutLength(Paths.Databases, body));
        app.Remember((await Shape.SuccessAsync(response, HttpStatusCode.Created)).GetProperty("password").GetString()!);
    }

    [Theory]
    [InlineData("text/plain")]
    [InlineData("text/plain; charset=utf-8")]
    [InlineData("multipart/form-data; boundary=----hepdb")]
    [InlineData("application/xml")]
    [InlineData("application/octet-stream")]
    [InlineData("text/json-ish")]
    public async Task A_non_JSON_content_type_is_UNSUPPORTED_MEDIA_TYPE_even_with_a_JSON_body(string contentType)
    {
        var app = shared.For(engines);
        var account = await app.CreateAccountAsync();
        await Refused.AssertAsync(app, account, Requests.Post(Paths.Databases, Requests.CreateBody(), contentType), 415, "UNSUPPORTED_MEDIA_TYPE");
    }

    [Theory]
    [InlineData("application/json")]
    [InlineData("application/json; charset=utf-8")]
    [InlineData("Application/JSON")]
    [InlineData(null)]
    [InlineData("application/x-www-form-urlencoded")]
    public async Task JSON_no_content_type_and_curl_d_form_type_with_a_JSON_object_are_accepted(string? contentType)
    {
        var app = shared.For(engines);
        var account = await app.CreateAccountAsync();
        var response = await account.Api.SendAsync(Requests.Post(Paths.Databases, Requests.CreateBody("via-curl", "postgres"), contentType));
        var data = await Shape.SuccessAsync(response, HttpStatusCode.Created);
        app.Remember(data.GetProperty("password").GetString()!);
        Shape.IsAccess(data, engines, account, "postgres", "via-curl", 1);
        await Tenant.ProveWorksAsync(data.GetProperty("connectionString").GetString()!, "curl");
    }

    [Theory]
    [InlineData("name=a&engine=mariadb")]
    [InlineData("[]")]
    [InlineData("")]
    public async Task A_form_type_whose_body_is_not_a_JSON_object_is_UNSUPPORTED_MEDIA_TYPE(string body)
    {
        // SPEC §3: the form type is accepted only "when the body parses as a JSON object"; otherwise it is a non-JSON type.
        var app = shared.For(engines);
        var account = await app.CreateAccountAsync();
        var message = await Refused.AssertAsync(app, account, Requests.Post(Paths.Databases, body, "application/x-www-form-urlencoded"), 415, "UNSUPPORTED_MEDIA_TYPE");
        Assert.Contains("JSON", message, StringComparison.Ordinal);
    }

    /// <summary>A valid create body padded with JSON whitespace to exactly <paramref name="bytes"/> bytes.</summary>
    private static string PaddedCreateBody(int bytes)
    {
        var core = Requests.CreateBody("padded", "mariadb");
        var body = core[..^1] + new string(' ', bytes - Encoding.UTF8.GetByteCount(core)) + "}";
        Assert.Equal(bytes, Encoding.UTF8.GetByteCount(body));
        return body;
    }
}
