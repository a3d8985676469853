using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Multicast.Bench.SessionCost;
using Npgsql;
using NpgsqlTypes;

namespace Multicast.Bench.Http;

/// <summary>
/// The classic database-backed session for the baseline app: a POST runs in one transaction (SELECT ... FOR UPDATE,
/// the endpoint, INSERT or UPDATE, COMMIT), its response held until the commit; a GET reads the row without a lock.
/// </summary>
internal sealed class PostgresSessionMiddleware(RequestDelegate next, NpgsqlDataSource dataSource)
{
    public const string CookieName = ".Multicast.Session";

    public async Task InvokeAsync(HttpContext context)
    {
        if (context.Request.Path.StartsWithSegments("/health"))
        {
            await next(context);
            return;
        }
        var id = context.Request.Cookies[CookieName];
        if (HttpMethods.IsGet(context.Request.Method))
        {
            var attributes = id is null ? null : await ReadAsync(id, context.RequestAborted);
            SetSession(context, new PostgresHttpSession(id ?? "", attributes ?? [], readOnly: true));
            await next(context);
            return;
        }

        await using var connection = await dataSource.OpenConnectionAsync(context.RequestAborted);
        await using var transaction = await connection.BeginTransactionAsync(context.RequestAborted);
        Dictionary<string, byte[]>? stored = null;
        if (id is not null)
        {
            await using var select = new NpgsqlCommand("SELECT data FROM sessions WHERE id = $1 FOR UPDATE", connection, transaction);
            select.Parameters.Add(new NpgsqlParameter<string> { TypedValue = id });
            if (await select.ExecuteScalarAsync(context.RequestAborted) is byte[] blob)
                stored = SessionCodec.Decode(blob);
        }
        var isNew = stored is null;
        var session = new PostgresHttpSession(isNew ? Guid.NewGuid().ToString("N") : id!, stored ?? [], readOnly: false);
        SetSession(context, session);

        var original = context.Response.Body;
        using var buffer = new MemoryStream();
        context.Response.Body = buffer;
        try
        {
            await next(context);
        }
        finally
        {
            context.Response.Body = original;
        }

        if (session.IsChanged)
        {
            var sql = isNew
                ? "INSERT INTO sessions (id, data, version) VALUES ($1, $2, 1)"
                : "UPDATE sessions SET data = $2, version = version + 1, last_access = now() WHERE id = $1";
            await using var write = new NpgsqlCommand(sql, connection, transaction);
            write.Parameters.Add(new NpgsqlParameter<string> { TypedValue = session.Id });
            write.Parameters.Add(new NpgsqlParameter<byte[]> { TypedValue = SessionCodec.Encode(session.Attributes), NpgsqlDbType = NpgsqlDbType.Bytea });
            await write.ExecuteNonQueryAsync(CancellationToken.None);
        }
        await transaction.CommitAsync(CancellationToken.None);
        if (isNew && session.IsChanged)
            context.Response.Cookies.Append(CookieName, session.Id, new CookieOptions { HttpOnly = true, Path = "/" });
        buffer.Position = 0;
        await buffer.CopyToAsync(original, context.RequestAborted);
    }

    private async Task<Dictionary<string, byte[]>?> ReadAsync(string id, CancellationToken cancellationToken)
    {
        await using var select = dataSource.CreateCommand("SELECT data FROM sessions WHERE id = $1");
        select.Parameters.Add(new NpgsqlParameter<string> { TypedValue = id });
        return await select.ExecuteScalarAsync(cancellationToken) is byte[] blob ? SessionCodec.Decode(blob) : null;
    }

    private static void SetSession(HttpContext context, ISession session) =>
        context.Features.Set<ISessionFeature>(new Feature(session));

    private sealed class Feature(ISession session) : ISessionFeature
    {
        public ISession Session { get; set; } = session;
    }
}
