using Bridge.Interop;

namespace Interop.Tests;

/// <summary>The snippet of Interop/README.md, kept compiling and passing.</summary>
public sealed class ReadmeTests
{
    [Test]
    public void Readme_snippet_runs()
    {
        PythonRuntime.Initialize();
        using var math = Py.Import("math");
        double r = math.GetAttr("sqrt").Call<double>(2.0);
        Assert.That(r, Is.EqualTo(Math.Sqrt(2.0)));

        using var g = Py.Exec("def f(x):\n    return x + 1\n");
        using var f = g["f"];
        Func<long, long> fast = f.GetFunction<long, long>();
        Assert.That(fast(41), Is.EqualTo(42));

        using var kw = f.Invoke([1], new Dictionary<string, object?>());
        Assert.That(kw.As<int>(), Is.EqualTo(2));
        var e = Assert.Throws<PythonException>(() => Py.Eval("1/0"));
        Assert.That(e!.PythonTypeName, Is.EqualTo("ZeroDivisionError"));

        using (Gil.Acquire())
        {
            for (int i = 0; i < 10; i++) f.Call(i).Dispose();
        }
    }

    [Test]
    public void Length_and_iteration()
    {
        using var range = Py.Eval("range(5)");
        Assert.That(range.Length, Is.EqualTo(5));
        Assert.That(range.Iterate().Select(item => { using (item) return item.As<int>(); }), Is.EqualTo(new[] { 0, 1, 2, 3, 4 }));
        using var gen = Py.Exec("def gen():\n    yield 1\n    raise ValueError('mid-iteration')\n")["gen"].Call();
        var ex = Assert.Throws<PythonException>(() => gen.Iterate().ToList());
        Assert.That(ex!.PythonMessage, Is.EqualTo("mid-iteration"));
        using var number = Py.From(3);
        Assert.Throws<PythonException>(() => _ = number.Length);
    }

    [Test]
    public void Dotted_import_returns_the_leaf_module()
    {
        using var path = Py.Import("os.path");
        Assert.That(path.GetAttr("join").Call<string>("a", "b"), Is.EqualTo("a/b"));
    }
}
