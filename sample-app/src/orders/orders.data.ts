export interface Order {
  id: string;
  item: string;
  quantity: number;
  status: 'placed' | 'shipped' | 'delivered';
}

/** A fixed, in-memory catalogue: the sample is about who may read it, not about storage. */
export const ORDERS: ReadonlyMap<string, Order> = new Map(
  (
    [
      { id: '1001', item: 'espresso beans, 1 kg', quantity: 2, status: 'shipped' },
      { id: '1002', item: 'burr grinder', quantity: 1, status: 'placed' },
      { id: '1003', item: 'milk jug', quantity: 3, status: 'delivered' },
    ] as const
  ).map((order) => [order.id, { ...order }]),
);
