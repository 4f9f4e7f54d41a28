"""A program for test_run_program: it opens a context, prints, then fails."""


async def main(system, args):
    client = system.open()
    await client.context_create()
    print("context created")
    raise RuntimeError("the program failed on purpose")
