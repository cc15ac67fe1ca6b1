package dev.fable.testing;

import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;

/** A body on a daemon thread of its own, and its result with the body's own failure rethrown as is. */
public final class Tasks {
    private Tasks() {}

    /** Runs {@code body} on a new daemon thread called {@code name}. */
    public static <T> FutureTask<T> spawn(String name, Callable<T> body) {
        FutureTask<T> task = new FutureTask<>(body);
        Thread t = new Thread(task, name);
        t.setDaemon(true);
        t.start();
        return task;
    }

    /** The task's result (waiting at most 90 s); its assertion error or exception is rethrown as is. */
    public static <T> T join(FutureTask<T> task) throws Exception {
        try {
            return task.get(90, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            if (c instanceof Error err) throw err;
            if (c instanceof Exception ex) throw ex;
            throw e;
        }
    }
}
