// A web shop's cart in a clustered session: run two or more copies with the same --Udp:Group and --Udp:Port and
// any of them serves any client. E.g.
//   dotnet run --project samples/CartApp -- --urls http://127.0.0.1:5101 --NodeId shop1
//   dotnet run --project samples/CartApp -- --urls http://127.0.0.1:5102 --NodeId shop2
using CartApp;
using Multicast.AspNetCore;
using Multicast.Sessions;

var builder = WebApplication.CreateBuilder(args);
builder.Services.AddClusteredSession(o =>
    {
        o.Cluster.NodeId = builder.Configuration["NodeId"] ?? Environment.MachineName;
        o.Cluster.PublicAddress = builder.Configuration["urls"]?.Split(';')[0] ?? string.Empty;
        o.Cluster.ReplicationAcks = builder.Configuration.GetValue("ReplicationAcks", 1);
        o.Channel.ClusterId = builder.Configuration["ClusterId"] ?? "cart-sample";
    })
    .UseUdpMulticast(o => builder.Configuration.GetSection("Udp").Bind(o));   // loopback by default

var app = builder.Build();
app.UseClusteredSession();

app.MapPost("/cart/{sku}", (HttpContext context, string sku) =>
{
    var cart = context.Session.TryGet<Cart>("cart", out var found) ? found : new Cart();
    var line = cart.Lines.Find(l => l.Sku == sku);
    if (line is null)
        cart.Lines.Add(new CartLine { Sku = sku, Quantity = 1 });
    else
        line.Quantity++;
    context.Session.Set("cart", cart);   // too large for Session:MaxSessionBytes: 413, nothing stored
    return Results.Ok(cart.Lines);
});

app.MapGet("/cart", (HttpContext context) =>
        Results.Ok(context.Session.TryGet<Cart>("cart", out var cart) ? cart.Lines : []))
    .WithSessionAccess(SessionAccess.ReadOnly);

app.MapPost("/login/{user}", async (HttpContext context, string user) =>
{
    // A new session id on every node before the session holds a signed-in user (session fixation).
    await context.RegenerateSessionIdAsync();
    context.Session.SetString("user", user);
    return Results.NoContent();
});

app.MapGet("/whoami", (HttpContext context) => context.Session.GetString("user") ?? string.Empty)
    .WithSessionAccess(SessionAccess.ReadOnly);

app.MapHealthChecks("/healthz").WithSessionAccess(SessionAccess.None);

app.Run();
