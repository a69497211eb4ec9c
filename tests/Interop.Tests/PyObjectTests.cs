using Bridge.Interop;

namespace Interop.Tests;

public sealed class PyObjectTests
{
    [Test]
    public void Import_math_and_call_a_function()
    {
        using var math = Py.Import("math");
        using var sqrt = math.GetAttr("sqrt");
        Assert.That(sqrt.Call<double>(16.0), Is.EqualTo(4.0));
        Assert.That(math.GetAttr("pi").As<double>(), Is.EqualTo(Math.PI));
    }

    [Test]
    public void Import_of_a_missing_module_raises_ModuleNotFoundError()
    {
        var ex = Assert.Throws<PythonException>(() => Py.Import("no_such_module_xyz"));
        Assert.That(ex!.PythonTypeName, Is.EqualTo("ModuleNotFoundError"));
        Assert.That(ex.PythonMessage, Does.Contain("no_such_module_xyz"));
    }

    [Test]
    public void Call_with_several_arguments_and_Invoke_with_keywords()
    {
        using var g = Py.Exec("def f(a, b, c=3, *, d=4):\n    return [a, b, c, d]\n");
        using var f = g["f"];
        Assert.That(f.Call<List<long>>(1, 2), Is.EqualTo(new long[] { 1, 2, 3, 4 }));
        using var r = f.Invoke([10, 20], new Dictionary<string, object?> { ["d"] = 40, ["c"] = 30 });
        Assert.That(r.As<long[]>(), Is.EqualTo(new long[] { 10, 20, 30, 40 }));
        Assert.That(f.Call<long[]>(Enumerable.Range(0, 3).Select(i => (object?)i).ToArray()), Is.EqualTo(new long[] { 0, 1, 2, 4 }));
    }

    [Test]
    public void Call_with_more_than_sixteen_arguments()
    {
        using var builtins = Py.Import("builtins");
        using var max = builtins.GetAttr("max");
        var args = Enumerable.Range(0, 40).Select(i => (object?)i).ToArray();
        Assert.That(max.Call<int>(args), Is.EqualTo(39));
    }

    [Test]
    public void Attributes_can_be_set_and_read()
    {
        using var types = Py.Import("types");
        using var ns = types.GetAttr("SimpleNamespace").Call();
        ns.SetAttr("answer", 42);
        Assert.That(ns.HasAttr("answer"), Is.True);
        Assert.That(ns.HasAttr("question"), Is.False);
        Assert.That(ns.GetAttr("answer").As<int>(), Is.EqualTo(42));
        var ex = Assert.Throws<PythonException>(() => ns.GetAttr("question"));
        Assert.That(ex!.PythonTypeName, Is.EqualTo("AttributeError"));
    }

    [Test]
    public void Indexers_get_and_set_items()
    {
        using var d = Py.Dict();
        d["x"] = Py.From(1);
        d.SetItem(2, "two");
        Assert.That(d["x"].As<int>(), Is.EqualTo(1));
        Assert.That(d.GetItem<string>(2), Is.EqualTo("two"));
        var ex = Assert.Throws<PythonException>(() => d.GetItem("missing"));
        Assert.That(ex!.PythonTypeName, Is.EqualTo("KeyError"));
        using var list = Py.From(new[] { 10, 20, 30 });
        Assert.That(list.GetItem<int>(-1), Is.EqualTo(30));
    }

    [Test]
    public void ToString_is_str_and_Repr_is_repr()
    {
        using var s = Py.From("hi");
        Assert.That(s.ToString(), Is.EqualTo("hi"));
        Assert.That(s.Repr(), Is.EqualTo("'hi'"));
        Assert.That(s.PythonTypeName, Is.EqualTo("str"));
        using var od = Py.Import("collections").GetAttr("OrderedDict").Call();
        Assert.That(od.PythonTypeName, Is.EqualTo("collections.OrderedDict"));
    }

    [Test]
    public void Disposed_object_throws_ObjectDisposedException()
    {
        var o = Py.From(1);
        o.Dispose();
        o.Dispose(); // idempotent
        Assert.Throws<ObjectDisposedException>(() => o.GetAttr("real"));
        Assert.That(o.ToString(), Is.EqualTo("<disposed PyObject>"));
    }

    [Test]
    public void Finalizer_queues_the_decref_and_a_later_release_applies_it()
    {
        using var g = Py.Exec("import sys\nclass Tracked: pass\nobj = Tracked()\n");
        using var obj = g["obj"];
        using var sys = Py.Import("sys");
        using var getrefcount = sys.GetAttr("getrefcount");
        long before = getrefcount.Call<long>(obj);
        LeakOneReference(obj);
        Assert.That(getrefcount.Call<long>(obj), Is.EqualTo(before + 1));
        GC.Collect();
        GC.WaitForPendingFinalizers();
        using (Gil.Acquire()) { } // outermost release drains the queue
        Assert.That(getrefcount.Call<long>(obj), Is.EqualTo(before));
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static void LeakOneReference(PyObject obj) => _ = Py.From(obj);

    [Test]
    public void Eval_and_Exec_share_a_namespace()
    {
        using var g = Py.Exec("x = 20\ny = x + 1\n");
        Assert.That(Py.Eval("x * y", g).As<int>(), Is.EqualTo(420));
        var ex = Assert.Throws<PythonException>(() => Py.Exec("def broken(:\n"));
        Assert.That(ex!.PythonTypeName, Is.EqualTo("SyntaxError"));
    }

    [Test]
    public void Module_from_a_temp_directory_on_sys_path_imports()
    {
        var dir = Directory.CreateTempSubdirectory("interop-mod-");
        try
        {
            var name = "tmpmod_" + Guid.NewGuid().ToString("N")[..8];
            File.WriteAllText(Path.Combine(dir.FullName, name + ".py"),
                "def greet(who):\n    return f'hello {who}'\n\ndef fail():\n    raise ValueError('from temp module')\n");
            Py.AddToSysPath(dir.FullName);
            using var module = Py.Import(name);
            Assert.That(module.GetAttr("greet").Call<string>("world"), Is.EqualTo("hello world"));
            var ex = Assert.Throws<PythonException>(() => module.GetAttr("fail").Call());
            Assert.That(ex!.PythonTraceback, Does.Contain(name + ".py"));
            Assert.That(ex.PythonTraceback, Does.Contain("raise ValueError('from temp module')"));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
