using System.Text;
using HepDb.Api;
using HepDb.Databases;
using HepDb.Engines;
using Microsoft.AspNetCore.Http;

namespace HepDb.Tests.Unit;

/// <summary>The request rules of SPEC §3 as pure decisions: how a body is read (size, media type, JSON object, duplicate
/// fields, text that is not Unicode), what a database name and an engine may be, and the status of every catalog code.
/// No server: a request is a <see cref="DefaultHttpContext"/> with the bytes a client would send. The API contract tests
/// (tests/HepDb.Tests/Api) show the same rules over HTTP with the envelope and "nothing changed".</summary>
public sealed class RequestRuleTests
{
    /// <summary>A POST of <paramref name="body"/>; its length is announced unless <paramref name="chunked"/>, or
    /// <paramref name="contentLength"/> is announced instead of the real one.</summary>
    private static HttpRequest Request(byte[]? body, string? contentType = "application/json", long? contentLength = null, bool chunked = false)
    {
        var http = new DefaultHttpContext();
        http.Request.Method = "POST";
        http.Request.ContentType = contentType;
        http.Request.Body = new MemoryStream(body ?? []);
        http.Request.ContentLength = chunked ? null : contentLength ?? body?.Length;
        return http.Request;
    }

    private static Task<Outcome<Dictionary<string, System.Text.Json.JsonElement>>> ReadAsync(string body, string? contentType = "application/json") =>
        JsonBody.ReadObjectAsync(Request(Encoding.UTF8.GetBytes(body), contentType), CancellationToken.None);

    [Theory]
    [InlineData("application/json")]
    [InlineData("application/json; charset=utf-8")]
    [InlineData("APPLICATION/JSON")]
    [InlineData("application/vnd.hepdb+json")]
    [InlineData(null)]                                  // no Content-Type at all
    [InlineData("application/x-www-form-urlencoded")]   // what curl -d sends without -H, when the body is JSON
    public async Task A_JSON_object_is_read_from_json_no_content_type_or_curls_form_type(string? contentType)
    {
        var read = await ReadAsync("""{"name":"a","engine":"mariadb"}""", contentType);
        Assert.True(read.Ok, read.Problem?.Message);
        Assert.Equal(["engine", "name"], read.Value!.Keys.Order(StringComparer.Ordinal));
        Assert.Equal("a", JsonBody.OptionalString(read.Value, "name").Value);
    }

    [Theory]
    [InlineData("[]")]
    [InlineData("\"a string\"")]
    [InlineData("null")]
    [InlineData("{")]
    [InlineData("""{"name":"a"} trailing""")]
    [InlineData("""{/* comment */"name":"a"}""")]
    [InlineData("")]
    public async Task Anything_but_one_JSON_object_is_INVALID_BODY(string body)
    {
        var read = await ReadAsync(body);
        Assert.Equal("INVALID_BODY", read.Problem?.Code);
    }

    [Fact]
    public async Task A_form_body_that_is_not_JSON_is_UNSUPPORTED_MEDIA_TYPE_and_other_types_are_refused_unread()
    {
        Assert.Equal("UNSUPPORTED_MEDIA_TYPE", (await ReadAsync("name=a&engine=mariadb", "application/x-www-form-urlencoded")).Problem?.Code);
        Assert.Equal("UNSUPPORTED_MEDIA_TYPE", (await ReadAsync("[]", "application/x-www-form-urlencoded")).Problem?.Code);
        Assert.Equal("UNSUPPORTED_MEDIA_TYPE", (await ReadAsync("""{"name":"a"}""", "text/plain")).Problem?.Code);
        Assert.Equal("UNSUPPORTED_MEDIA_TYPE", (await ReadAsync("""{"name":"a"}""", "not a media type")).Problem?.Code);
    }

    [Fact]
    public async Task Duplicate_fields_are_INVALID_BODY_naming_the_field_printably()
    {
        var read = await ReadAsync("""{"name":"a","name":"b"}""");
        Assert.Equal("INVALID_BODY", read.Problem?.Code);
        Assert.Contains("\"name\"", read.Problem!.Message, StringComparison.Ordinal);
        var control = await ReadAsync("{\"a\\u0007b\":1,\"a\\u0007b\":2}");
        Assert.Contains("\"a?b\"", control.Problem!.Message, StringComparison.Ordinal); // no control character reaches a message
    }

    [Theory]
    [InlineData("{\"name\":\"\\ud800\",\"engine\":\"postgres\"}")]   // an escaped unpaired surrogate in a value
    [InlineData("{\"name\":\"a\",\"engine\":\"\\udc00\"}")]
    [InlineData("{\"\\ud800\":\"a\"}")]                              // … in a property name
    public async Task Text_that_is_not_Unicode_is_INVALID_BODY(string body)
    {
        Assert.Equal("INVALID_BODY", (await ReadAsync(body)).Problem?.Code);
    }

    [Fact]
    public async Task Raw_bytes_of_a_surrogate_are_INVALID_BODY()
    {
        byte[] body = [.. "{\"name\":\""u8.ToArray(), 0xED, 0xA0, 0x80, .. "\",\"engine\":\"postgres\"}"u8.ToArray()];
        Assert.Equal("INVALID_BODY", (await JsonBody.ReadObjectAsync(Request(body), CancellationToken.None)).Problem?.Code);
    }

    [Fact]
    public async Task The_body_limit_is_16_KiB_announced_or_counted()
    {
        var atLimit = $$"""{"name":"{{new string('x', JsonBody.MaxBytes - 11)}}"}""";
        Assert.Equal(JsonBody.MaxBytes, Encoding.UTF8.GetByteCount(atLimit));
        Assert.True((await ReadAsync(atLimit)).Ok);

        var over = Encoding.UTF8.GetBytes(atLimit + " ");
        Assert.Equal("BODY_TOO_LARGE", (await JsonBody.ReadObjectAsync(Request(over), CancellationToken.None)).Problem?.Code);
        // A chunked body announces no length; the bytes are counted as they arrive.
        Assert.Equal("BODY_TOO_LARGE", (await JsonBody.ReadObjectAsync(Request(over, chunked: true), CancellationToken.None)).Problem?.Code);
        // An announced length over the limit is refused before a byte is read, whatever the type.
        Assert.Equal("BODY_TOO_LARGE", (await JsonBody.ReadObjectAsync(Request([], "text/plain", JsonBody.MaxBytes + 1), CancellationToken.None)).Problem?.Code);
    }

    [Fact]
    public async Task An_optional_string_field_is_absent_null_or_a_string_and_nothing_else()
    {
        var fields = (await ReadAsync("""{"a":null,"b":"x","c":5,"d":["x"]}""")).Value!;
        Assert.Null(JsonBody.OptionalString(fields, "missing").Value);
        Assert.True(JsonBody.OptionalString(fields, "a").Ok);
        Assert.Null(JsonBody.OptionalString(fields, "a").Value);
        Assert.Equal("x", JsonBody.OptionalString(fields, "b").Value);
        Assert.Equal("INVALID_BODY", JsonBody.OptionalString(fields, "c").Problem?.Code);
        Assert.Contains("\"d\"", JsonBody.OptionalString(fields, "d").Problem!.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData(" \t\n ")]
    [InlineData("bell\u0007")]
    [InlineData("c1\u0085control")]
    [InlineData("del\u007f")]
    public void A_missing_blank_or_control_character_name_is_INVALID_NAME(string? name)
    {
        Assert.Equal("INVALID_NAME", DatabaseService.ValidateName(name)?.Code);
    }

    [Fact]
    public void A_name_is_at_most_64_characters_after_trimming()
    {
        var max = new string('n', DatabaseService.MaxNameLength - 1) + "é";
        Assert.Null(DatabaseService.ValidateName(max));
        Assert.Null(DatabaseService.ValidateName($"   {max}   "));
        Assert.Equal("INVALID_NAME", DatabaseService.ValidateName(max + "x")?.Code);
    }

    [Theory]
    [InlineData("mariadb", true)]
    [InlineData("postgres", true)]
    [InlineData("mongo", true)]
    [InlineData("MariaDB", false)]   // wire names are exact
    [InlineData("mysql", false)]
    [InlineData("mongodb", false)]
    [InlineData("", false)]
    [InlineData(null, false)]
    public void Only_the_three_wire_names_are_engines(string? engine, bool known)
    {
        Assert.Equal(known, EngineKinds.TryParse(engine, out var kind));
        if (known) Assert.Equal(engine, kind.WireName());
    }
}
